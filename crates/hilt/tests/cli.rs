//! The `hilt` binary as a user meets it: output and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn hilt(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hilt"))
        .args(arguments)
        .current_dir(repository_root())
        // The plain output, even when the tests themselves run in GitHub
        // Actions (whose step summary they must not write to) or with
        // colours forced.
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("the hilt binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn replay_of_a_passing_scenario_exits_0_with_a_summary() {
    let output = hilt(&[
        "replay",
        "scenarios/remote-led/harness_publish_lights_led.yaml",
    ]);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        text(&output.stderr)
    );
    assert!(
        stdout.contains("PASS  scenarios/remote-led/harness_publish_lights_led.yaml"),
        "{stdout}"
    );
    assert!(stdout.contains("1 passed, 0 failed, 0 errors"), "{stdout}");
}

#[test]
fn replay_of_a_failing_scenario_exits_1_with_the_report() {
    let output = hilt(&[
        "replay",
        "crates/hilt-runner/tests/fixtures/failing/wrong_temperature.yaml",
    ]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "wrong_temperature.yaml:10: expected a message on 'devices/probe/temperature/degrees'"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#""{\"degrees\": 72.5, \"unit\": \"F\"}""#),
        "the report shows what was seen: {stdout}"
    );
    assert!(stdout.contains("0 passed, 1 failed, 0 errors"), "{stdout}");
}

#[test]
fn broken_yaml_exits_2_with_line_and_column_and_runs_nothing() {
    let output = hilt(&[
        "replay",
        "crates/hilt-runner/tests/fixtures/invalid/broken_yaml.yaml",
    ]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("broken_yaml.yaml:"), "{stderr}");
    let location = stderr.split("broken_yaml.yaml:").nth(1).unwrap_or_default();
    let mut numbers = location
        .split(':')
        .take(2)
        .map(|part| part.trim().parse::<usize>());
    assert!(
        matches!((numbers.next(), numbers.next()), (Some(Ok(_)), Some(Ok(_)))),
        "line and column: {stderr}"
    );
    assert!(text(&output.stdout).is_empty(), "nothing ran");
}

#[test]
fn check_validates_without_running() {
    let output = hilt(&["check", "scenarios/"]);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        text(&output.stderr)
    );
    assert!(stdout.contains("valid scenario files"), "{stdout}");

    let invalid = hilt(&["check", "crates/hilt-runner/tests/fixtures/invalid/"]);
    assert_eq!(invalid.status.code(), Some(2));
    assert!(
        text(&invalid.stderr).contains("unknown config key 'units'"),
        "{}",
        text(&invalid.stderr)
    );
}

#[test]
fn transcript_prints_the_run_and_is_the_same_twice() {
    let first = hilt(&["transcript", "scenarios/remote-led/pair.yaml"]);
    let second = hilt(&["transcript", "scenarios/remote-led/pair.yaml"]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let transcript = text(&first.stdout);
    assert!(
        transcript.contains("blue -> blue/btn/0 qos0 \"0\""),
        "{transcript}"
    );
    assert!(transcript.contains("green.led on"), "{transcript}");
    assert_eq!(first.stdout, second.stdout);
}

#[test]
fn a_users_own_scenario_written_against_the_spec_runs() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("mine.yaml");
    std::fs::write(
        &file,
        r#"
name: my own check of the thermometer
devices:
  kitchen:
    app: thermometer
    client_id: esp32-kitchen
    config: { unit: C, interval: 30s }
    parts:
      ds18b20: { temperature: 4.25 }
steps:
  - expect: { topic: devices/esp32-kitchen/temperature/degrees, json: { degrees: 4.25, unit: C } }
  - set: { kitchen.ds18b20.temperature: -18 }
  - expect: { topic: "devices/+/temperature/#", json: { degrees: -18 }, within: 31s }
  - expect: { topic: devices/esp32-kitchen/temperature/degrees, count: 2, within: 1m }
"#,
    )
    .unwrap();
    let output = hilt(&["replay", file.to_str().unwrap()]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );

    let missing = hilt(&[
        "replay",
        folder.path().join("absent.yaml").to_str().unwrap(),
    ]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn every_malformed_file_of_the_corpus_exits_2_with_line_and_column() {
    let corpus = repository_root().join("crates/hilt-scenario/tests/invalid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yaml")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 30, "the corpus holds {} files", files.len());
    for file in files {
        let shown = file
            .strip_prefix(repository_root())
            .unwrap_or(&file)
            .to_string_lossy()
            .into_owned();
        let output = hilt(&["check", &shown]);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{shown}: {stderr}");
        // `file:line:column: message`, or `file: message` for a file that
        // cannot be read as text at all.
        let located = stderr.lines().any(|line| {
            let Some(rest) = line.strip_prefix(&format!("{shown}:")) else {
                return false;
            };
            let mut parts = rest.splitn(3, ':');
            let line_number = parts.next().and_then(|part| part.parse::<usize>().ok());
            let column = parts.next().and_then(|part| part.parse::<usize>().ok());
            matches!((line_number, column), (Some(l), Some(c)) if l > 0 && c > 0)
        });
        assert!(located, "{shown}: no line and column in {stderr}");
    }
}

#[test]
fn replay_writes_the_messages_of_a_run_as_csv() {
    let folder = tempfile::tempdir().unwrap();
    let csv = folder.path().join("messages.csv");
    let output = hilt(&[
        "replay",
        "--csv",
        csv.to_str().unwrap(),
        "scenarios/sensor-data/request_response.yaml",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let written = std::fs::read_to_string(&csv).unwrap();
    let mut lines = written.lines();
    assert_eq!(
        lines.next(),
        Some("scenario,device_time_s,source,topic,qos,retain,payload")
    );
    let response = lines
        .find(|line| line.contains("lux-node/response"))
        .expect("a response row");
    assert!(
        response.starts_with("scenarios/sensor-data/request_response.yaml,1."),
        "{response}"
    );
    assert!(
        response.contains(r#""[""lux-1"", 1, 150"#),
        "JSON quoted as CSV: {response}"
    );
}

#[test]
fn a_bad_broker_url_is_invalid_input() {
    let output = hilt(&[
        "replay",
        "--broker",
        "http://example.org",
        "scenarios/thermometer/celsius_config.yaml",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("--broker http://example.org: write it as mqtt://host:port"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn wokwi_exports_a_ready_scenario_and_refuses_what_it_cannot_check() {
    let output = hilt(&["wokwi", "scenarios/wokwi/thermometer_readings.yaml"]);
    let yaml = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(yaml.contains("version: 1"), "{yaml}");
    assert!(yaml.contains("wait-serial:"), "{yaml}");
    assert!(
        yaml.contains("[hilt] publish devices/probe/temperature/degrees qos=0 retain=0 payload="),
        "{yaml}"
    );

    let refused = hilt(&[
        "wokwi",
        "scenarios/remote-led/harness_publish_lights_led.yaml",
    ]);
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("harness_publish_lights_led.yaml:13:"),
        "names the publish step: {stderr}"
    );

    // A count Wokwi cannot make is refused, or weakened and listed on request.
    let strict = hilt(&["wokwi", "scenarios/thermometer/thermometer_day.yaml"]);
    assert_eq!(strict.status.code(), Some(1));
    let approximate = hilt(&[
        "wokwi",
        "--approximate",
        "scenarios/thermometer/thermometer_day.yaml",
    ]);
    let stderr = text(&approximate.stderr);
    assert_eq!(approximate.status.code(), Some(0), "{stderr}");
    assert!(
        stderr
            .contains("thermometer_day.yaml:12: approximated: checked as one message on the topic"),
        "{stderr}"
    );
    assert!(text(&approximate.stdout).contains("wait-serial:"));
}

#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    use std::io::Read as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_hilt"))
        .args(["transcript", "scenarios/thermometer/thermometer_day.yaml"])
        .current_dir(repository_root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status.code(), Some(141), "{stderr}");
}

/// [`hilt`], failing the test instead of hanging it if the command blocks.
fn hilt_promptly(arguments: &[&str]) -> Output {
    let (sender, receiver) = std::sync::mpsc::channel();
    let owned: Vec<String> = arguments
        .iter()
        .map(|&argument| argument.to_owned())
        .collect();
    std::thread::spawn(move || {
        let borrowed: Vec<&str> = owned.iter().map(String::as_str).collect();
        let _ = sender.send(hilt(&borrowed));
    });
    receiver
        .recv_timeout(std::time::Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("hilt {arguments:?} blocked"))
}

const VALID: &str = "name: fine\ndevices:\n  probe: { app: thermometer }\nsteps:\n  - wait: 1s\n";

#[cfg(unix)]
#[test]
fn a_device_is_refused_at_once_with_exit_2() {
    let output = hilt_promptly(&["check", "/dev/zero"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        "/dev/zero: a character device, not a regular file; hilt reads scenarios only from \
         regular files\n"
    );
    assert!(output.stdout.is_empty());
}

#[cfg(unix)]
#[test]
fn a_fifo_in_a_scenario_folder_is_refused_without_blocking() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("a.yaml"), VALID).unwrap();
    let fifo = folder.path().join("x.yaml");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    for command in ["check", "replay"] {
        let output = hilt_promptly(&[command, folder.path().to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
        let stderr = text(&output.stderr);
        assert!(
            stderr.starts_with(&format!(
                "{}: a FIFO (named pipe), not a regular file; hilt reads scenarios only from \
                 regular files\n",
                fifo.display()
            )),
            "{stderr}"
        );
        assert!(text(&output.stdout).is_empty(), "nothing ran");
    }
}

#[test]
fn a_missing_file_is_one_plain_sentence() {
    let folder = tempfile::tempdir().unwrap();
    let missing = folder.path().join("x.yaml");
    for command in ["check", "replay", "transcript"] {
        let output = hilt(&[command, missing.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2));
        assert_eq!(
            text(&output.stderr),
            format!("hilt: {}: no such file\n", missing.display())
        );
    }
    // `wokwi` loads the file itself, without searching: the same sentence.
    let output = hilt(&["wokwi", missing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        format!("{}: no such file\n", missing.display())
    );
}

#[cfg(unix)]
#[test]
fn symbolic_link_loops_are_one_plain_sentence_and_never_searched_forever() {
    let folder = tempfile::tempdir().unwrap();
    let first = folder.path().join("first.yaml");
    std::os::unix::fs::symlink("second.yaml", &first).unwrap();
    std::os::unix::fs::symlink("first.yaml", folder.path().join("second.yaml")).unwrap();
    let output = hilt(&["check", first.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        format!(
            "hilt: {}: a symbolic link that leads back to itself (a loop); point it at a real file\n",
            first.display()
        )
    );

    // Inside a folder, each looping *.yaml is reported, not skipped.
    let output = hilt(&["check", folder.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
    assert!(stderr.contains("first.yaml: a symbolic link that leads back to itself"));
    assert!(stderr.contains("second.yaml: a symbolic link that leads back to itself"));

    // A link to a folder it is in would be searched without end.
    let scenarios = tempfile::tempdir().unwrap();
    let inner = scenarios.path().join("inner");
    std::fs::create_dir(&inner).unwrap();
    std::fs::write(inner.join("a.yaml"), VALID).unwrap();
    let back = inner.join("back");
    std::os::unix::fs::symlink("..", &back).unwrap();
    let output = hilt_promptly(&["check", scenarios.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "hilt: {}: a symbolic link back to the folder ",
            back.display()
        )) && stderr.contains("it is in (a loop)"),
        "{stderr}"
    );
}

#[test]
fn a_file_over_the_size_limit_is_refused() {
    let folder = tempfile::tempdir().unwrap();
    let large = folder.path().join("large.yaml");
    std::fs::File::create(&large)
        .unwrap()
        .set_len(5 * 1024 * 1024)
        .unwrap();
    let output = hilt_promptly(&["check", large.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        format!(
            "{}: the file is 5242880 bytes, more than the 4 MiB (4194304 bytes) a scenario file \
             may be; a scenario is a few kilobytes of YAML, so check that this is the file you \
             meant\n",
            large.display()
        )
    );
}

#[test]
fn a_byte_order_mark_is_accepted_and_a_nul_rejected() {
    let folder = tempfile::tempdir().unwrap();
    let marked = folder.path().join("marked.yaml");
    std::fs::write(&marked, format!("\u{feff}{VALID}")).unwrap();
    let output = hilt(&["check", marked.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));

    // The NUL once ended the file for the parser, and the unknown step
    // after it went unseen.
    let nul = folder.path().join("nul.yaml");
    std::fs::write(&nul, format!("{VALID}  - wait: 2s # \0\n  - bogus: 1\n")).unwrap();
    let output = hilt(&["check", nul.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).starts_with(&format!(
            "{}:6:16: U+0000 (NUL), a control character YAML does not allow in a file",
            nul.display()
        )),
        "{}",
        text(&output.stderr)
    );
}

/// Writes a scenario of `devices` thermometers that wait a second, in a
/// folder of its own; returns the folder and the file.
fn thermometer_fleet(devices: usize, label: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let folder = std::env::temp_dir().join(format!("hilt-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let file = folder.join("fleet.yaml");
    let mut yaml = format!("name: {devices} thermometers\ndevices:\n");
    for index in 0..devices {
        yaml.push_str(&format!("  t{index}: {{ app: thermometer }}\n"));
    }
    yaml.push_str("steps:\n  - wait: 1s\n");
    std::fs::write(&file, yaml).unwrap();
    (folder, file)
}

/// Runs `hilt replay [extra] file` under the shell's `ulimit` arguments,
/// which lower the limit on open files for the hilt process alone.
fn replay_under_ulimit(ulimit: &str, extra: &str, file: &std::path::Path) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            r#"ulimit {ulimit} && exec "$0" replay {extra} "$1""#
        ))
        .arg(env!("CARGO_BIN_EXE_hilt"))
        .arg(file)
        .output()
        .expect("sh runs")
}

/// A fleet bigger than the process's file descriptors can ever allow (on
/// an external broker, a socket per device) is a harness error (exit 2)
/// before anything runs, with the numbers and what to do; never a pass
/// with devices missing, nor a hang. Nothing listens at the broker address:
/// the check comes before any connection.
#[test]
fn a_fleet_beyond_the_file_descriptor_limit_is_refused_up_front() {
    let (folder, file) = thermometer_fleet(40, "fleet-hard-limit");
    let output = replay_under_ulimit("-n 64", "--broker mqtt://127.0.0.1:9", &file);
    let stdout = text(&output.stdout);
    let _ = std::fs::remove_dir_all(&folder);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{stdout}{}",
        text(&output.stderr)
    );
    assert!(
        stdout.contains("this scenario's 40 devices need about 104 open files"),
        "{stdout}"
    );
    assert!(
        stdout.contains("at most 64 (the hard limit, `ulimit -Hn`)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("(0.000000s device time"),
        "nothing ran: {stdout}"
    );
    assert!(stdout.contains("0 passed, 0 failed, 1 errors"), "{stdout}");
}

/// With only the soft limit too low, hilt raises it itself and the fleet
/// runs; on the embedded broker its devices need no files of their own.
#[test]
fn a_low_soft_limit_on_open_files_is_raised_for_the_fleet() {
    let (folder, file) = thermometer_fleet(200, "fleet-soft-limit");
    let output = replay_under_ulimit("-S -n 32", "", &file);
    let stdout = text(&output.stdout);
    let _ = std::fs::remove_dir_all(&folder);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        text(&output.stderr)
    );
    assert!(stdout.contains("1 passed, 0 failed, 0 errors"), "{stdout}");
}

/// `replay`'s standard output without its wall times, the only part that
/// may differ from one run to the next.
fn without_wall_times(stdout: &str) -> String {
    stdout
        .lines()
        .map(|line| {
            if let Some(start) = line.rfind(", ").filter(|_| line.ends_with("s wall)")) {
                format!("{}, _ wall)", &line[..start])
            } else if let Some(start) = line.find(" scenarios in ") {
                format!("{} scenarios in _)", &line[..start])
            } else {
                line.to_owned()
            }
        })
        .map(|line| line + "\n")
        .collect()
}

#[test]
fn replay_on_four_threads_prints_what_one_thread_prints() {
    let folder = tempfile::tempdir().unwrap();
    let run = |jobs: &str| {
        let csv = folder.path().join(format!("messages-{jobs}.csv"));
        let output = hilt(&[
            "replay",
            "-j",
            jobs,
            "--verbose",
            "--csv",
            csv.to_str().unwrap(),
            "scenarios/",
            // Failures too, so that reports are in the comparison.
            "crates/hilt-runner/tests/fixtures/failing/",
        ]);
        let csv = std::fs::read_to_string(&csv).unwrap();
        (output, csv)
    };
    let (one, one_csv) = run("1");
    let (four, four_csv) = run("4");
    let one_stdout = text(&one.stdout);
    assert_eq!(
        one.status.code(),
        Some(1),
        "{one_stdout}{}",
        text(&one.stderr)
    );
    assert_eq!(four.status.code(), one.status.code());
    assert!(
        one_stdout.contains("passed, 9 failed, 0 errors"),
        "{one_stdout}"
    );
    // `assert!` rather than `assert_eq!`, so that a difference names the
    // first line where the two part instead of printing both outputs.
    let (one_stdout, four_stdout) = (
        without_wall_times(&one_stdout),
        without_wall_times(&text(&four.stdout)),
    );
    let first_difference = one_stdout
        .lines()
        .zip(four_stdout.lines())
        .position(|(one_line, four_line)| one_line != four_line);
    assert!(
        one_stdout == four_stdout,
        "-j 4 differs from -j 1 at line {first_difference:?} (or in length)"
    );
    assert!(one_csv == four_csv, "the CSV files differ");
}

/// The files a partition takes, as `check` lists them.
fn checked_files(arguments: &[&str]) -> Vec<String> {
    let output = hilt(arguments);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        text(&output.stderr)
    );
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix("ok "))
        .map(|rest| rest.split("  ").next().unwrap().to_owned())
        .collect()
}

#[test]
fn the_shards_of_a_partition_take_every_scenario_exactly_once() {
    let every_file = checked_files(&["check", "scenarios/"]);
    assert!(every_file.len() > 6, "{every_file:?}");
    for kind in ["count", "hash"] {
        let mut shards_together = Vec::new();
        for shard in 1..=3 {
            let partition = format!("{kind}:{shard}/3");
            let taken = checked_files(&["check", "--partition", &partition, "scenarios/"]);
            assert!(!taken.is_empty(), "{partition} takes nothing");
            shards_together.extend(taken);
        }
        shards_together.sort();
        let mut expected = every_file.clone();
        expected.sort();
        assert_eq!(shards_together, expected, "{kind}: each file once");
    }
    let odd_positions = checked_files(&["check", "--partition", "count:1/2", "scenarios/"]);
    let expected: Vec<String> = every_file.iter().step_by(2).cloned().collect();
    assert_eq!(odd_positions, expected);
}

#[test]
fn replay_runs_the_files_check_lists_for_a_partition() {
    let listed = checked_files(&["check", "--partition", "hash:2/3", "scenarios/remote-led/"]);
    assert!(!listed.is_empty(), "the shard takes some file");
    let output = hilt(&["replay", "--partition", "hash:2/3", "scenarios/remote-led/"]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let replayed: Vec<String> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("PASS  "))
        .map(|rest| rest.split("  ").next().unwrap().to_owned())
        .collect();
    assert_eq!(replayed, listed);
    assert!(
        stdout.contains(&format!("{} passed", listed.len())),
        "{stdout}"
    );
}

#[test]
fn a_partition_that_takes_nothing_says_so_and_exits_0() {
    let output = hilt(&[
        "replay",
        "--partition",
        "count:2/2",
        "scenarios/remote-led/pair.yaml",
    ]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("partition count:2/2 takes none of the 1 scenario files"),
        "{stdout}"
    );
    assert!(!stdout.contains("PASS"), "{stdout}");
}

#[test]
fn invalid_partitions_and_job_counts_are_usage_errors() {
    for (arguments, message) in [
        (
            ["--partition", "count:0/3"],
            "between 1 and the number of shards",
        ),
        (
            ["--partition", "hash:4/3"],
            "between 1 and the number of shards",
        ),
        (["--partition", "foo:1/2"], "expected count:M/N or hash:M/N"),
        (["--partition", "hash:1"], "expected M/N"),
        (["--jobs", "0"], "--jobs"),
    ] {
        for command in ["replay", "check"] {
            if command == "check" && arguments[0] == "--jobs" {
                continue;
            }
            let mut all = vec![command];
            all.extend(arguments);
            all.push("scenarios/remote-led/pair.yaml");
            let output = hilt(&all);
            let stderr = text(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{all:?}: {stderr}");
            assert!(stderr.contains(message), "{all:?}: {stderr}");
            assert!(text(&output.stdout).is_empty(), "{all:?}: nothing ran");
        }
    }
}

/// docs/scenario.schema.json is what `hilt schema` prints for the bundled
/// apps, so editors check files against the language as it is. After a
/// change to the language or the apps, regenerate it with
/// `cargo run -p hilt -- schema > docs/scenario.schema.json`.
#[test]
fn schema_prints_the_published_schema() {
    let output = hilt(&["schema"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let published = std::fs::read_to_string(repository_root().join("docs/scenario.schema.json"))
        .expect("docs/scenario.schema.json is readable");
    assert!(
        text(&output.stdout) == published,
        "docs/scenario.schema.json differs from what `hilt schema` prints; regenerate it with \
         `cargo run -p hilt -- schema > docs/scenario.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&published).expect("the schema is JSON");
    assert_eq!(
        schema["definitions"]["simulated_device"]["properties"]["app"]["enum"],
        serde_json::json!([
            "light-status",
            "monitor",
            "node-manager",
            "remote-led",
            "sensor-data",
            "thermometer"
        ])
    );
}

#[test]
fn listen_overrides_the_file_and_a_device_that_never_connects_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bench.yaml");
    std::fs::write(
        &file,
        r#"name: a board that is not plugged in
time: real
broker: { listen: "127.0.0.2:0" }
devices:
  bench: { external: true, client_id: esp32-bench, connect_within: 200ms }
steps:
  - wait: { connected: bench, within: 10s }
"#,
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let output = hilt(&["transcript", "--listen", "127.0.0.1:0", path]);
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stdout}{stderr}");
    let announced = format!("{path}: external devices: connect to mqtt://127.0.0.1:");
    let line = stderr
        .lines()
        .find(|line| line.starts_with(&announced))
        .unwrap_or_else(|| panic!("{stderr}"));
    let address = line.rsplit("mqtt://").next().unwrap();
    assert!(
        stdout.contains(&format!("external devices: connect to mqtt://{address}")),
        "the transcript says it too: {stdout}"
    );
    assert!(
        stderr.contains(&format!(
            "external device 'bench' (client id 'esp32-bench') did not connect within 200ms of \
             the start of the run; it should connect to mqtt://{address}"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn listen_takes_an_ip_address_and_a_port() {
    let output = hilt(&[
        "replay",
        "--listen",
        "localhost:1883",
        "scenarios/remote-led/pair.yaml",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("expected an IP address and a port, like 127.0.0.1:1883"),
        "{stderr}"
    );
}

/// A scenario whose embedded broker has users cannot run on another
/// broker, whose users hilt cannot set: `--broker` skips it, saying why,
/// before connecting anywhere (port 9 has no broker).
#[test]
fn replay_on_another_broker_skips_a_scenario_with_broker_users() {
    let output = hilt(&[
        "replay",
        "--broker",
        "mqtt://127.0.0.1:9",
        "scenarios/security/wrong_credentials_back_off.yaml",
    ]);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        text(&output.stderr)
    );
    assert!(
        stdout.contains(
            "(its `broker: { users }` need the embedded broker, or --broker-username for a broker that has those users)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("0 passed, 0 failed, 0 errors, 1 skipped"),
        "{stdout}"
    );
}
