//! The GitHub Actions workflows hold the jobs CI relies on: the host job
//! that runs `.ci/run`, the firmware image build and upload, and the Wokwi
//! run of the exported scenarios, gated on the `WOKWI_CLI_TOKEN` secret the
//! way GitHub allows (a secret cannot appear in `if:`, so it goes through an
//! environment variable into a step output), and the scenario tests sharded
//! over a matrix from one nextest archive.

use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

/// The inputs of `wokwi/wokwi-ci-action@v1` (its `action.yml`).
const WOKWI_ACTION_INPUTS: [&str; 7] = [
    "token",
    "path",
    "timeout",
    "expect_text",
    "fail_text",
    "scenario",
    "serial_log_file",
];

struct Job {
    file: PathBuf,
    id: String,
    yaml: Yaml,
}

impl Job {
    fn steps(&self) -> &[Yaml] {
        self.yaml["steps"].as_vec().map_or(&[], Vec::as_slice)
    }

    fn step_using(&self, action: &str) -> Option<&Yaml> {
        self.steps()
            .iter()
            .find(|step| step["uses"].as_str().is_some_and(|uses| uses == action))
    }

    fn runs(&self) -> impl Iterator<Item = (&Yaml, &str)> {
        self.steps()
            .iter()
            .filter_map(|step| step["run"].as_str().map(|run| (step, run)))
    }

    fn needs(&self) -> Vec<&str> {
        match &self.yaml["needs"] {
            Yaml::String(one) => vec![one.as_str()],
            Yaml::Array(many) => many.iter().filter_map(Yaml::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

fn jobs() -> Vec<Job> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.github/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("{}: {error}", folder.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    let mut jobs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let documents = YamlLoader::load_from_str(&text)
            .unwrap_or_else(|error| panic!("{}: not YAML: {error}", file.display()));
        let [workflow] = documents.as_slice() else {
            panic!("{}: one YAML document", file.display());
        };
        assert!(
            workflow["on"].as_hash().is_some() && workflow["jobs"].as_hash().is_some(),
            "{}: a workflow has `on:` and `jobs:`",
            file.display()
        );
        for (id, job) in workflow["jobs"].as_hash().unwrap() {
            jobs.push(Job {
                file: file.clone(),
                id: id.as_str().expect("job ids are text").to_owned(),
                yaml: job.clone(),
            });
        }
    }
    jobs
}

#[test]
fn the_host_job_runs_ci_run() {
    let jobs = jobs();
    assert!(
        jobs.iter()
            .any(|job| job.runs().any(|(_, run)| run.trim() == "bash .ci/run")),
        "a job runs `bash .ci/run`"
    );
}

#[test]
fn the_firmware_job_builds_the_release_image_and_uploads_it() {
    let jobs = jobs();
    let firmware = jobs
        .iter()
        .find(|job| {
            job.runs().any(|(step, run)| {
                let in_firmware = step["working-directory"].as_str() == Some("firmware")
                    || run.contains("--manifest-path firmware/Cargo.toml");
                in_firmware
                    && run.contains("cargo build")
                    && run.contains("--release")
                    && run.contains("--target riscv32imc-unknown-none-elf")
            })
        })
        .expect("a job builds firmware/ in release for riscv32imc-unknown-none-elf");
    let upload = firmware
        .step_using("actions/upload-artifact@v4")
        .unwrap_or_else(|| panic!("{}: uploads an artifact", firmware.id));
    let path = upload["with"]["path"].as_str().unwrap_or_default();
    assert!(
        path.starts_with("firmware/target/riscv32imc-unknown-none-elf/release/"),
        "{}: uploads the release ELF, not {path:?}",
        firmware.id
    );
    // The ELF as wokwi.toml names it: Wokwi tells an ELF from a flash image
    // by the extension, which cargo does not give.
    let wokwi_toml =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wokwi.toml"))
            .expect("wokwi.toml at the repository root");
    assert!(
        path.ends_with(".elf") && wokwi_toml.contains(&format!("firmware = {path:?}")),
        "{}: uploads the .elf that wokwi.toml loads, not {path:?}",
        firmware.id
    );
    let copied = path.trim_start_matches("firmware/target/riscv32imc-unknown-none-elf/release/");
    let stem = copied.trim_end_matches(".elf");
    assert!(
        firmware
            .runs()
            .any(|(_, run)| run.contains(&format!("cp {stem} {copied}"))),
        "{}: copies the ELF to {copied} before uploading it",
        firmware.id
    );
}

#[test]
fn the_wokwi_job_runs_the_exported_scenarios_when_the_token_exists() {
    let jobs = jobs();
    let wokwi = jobs
        .iter()
        .find(|job| job.step_using("wokwi/wokwi-ci-action@v1").is_some())
        .expect("a job uses wokwi/wokwi-ci-action@v1");
    let action = wokwi.step_using("wokwi/wokwi-ci-action@v1").unwrap();
    let inputs = action["with"].as_hash().expect("the action has inputs");
    for input in inputs.keys() {
        let input = input.as_str().unwrap_or_default();
        assert!(
            WOKWI_ACTION_INPUTS.contains(&input),
            "wokwi-ci-action has no input {input:?}"
        );
    }
    assert!(
        action["with"]["token"]
            .as_str()
            .is_some_and(|token| token.contains("secrets.WOKWI_CLI_TOKEN")),
        "the action gets the WOKWI_CLI_TOKEN secret"
    );
    assert!(
        action["with"]["scenario"].as_str().is_some(),
        "the action runs a scenario"
    );
    assert_eq!(
        action["with"]["fail_text"].as_str(),
        Some(hilt_wokwi::PANIC_TEXT),
        "the action fails the run at the panic banner"
    );

    // The scenarios come from `hilt wokwi`, in a job this one needs.
    let exporter = jobs
        .iter()
        .find(|job| job.runs().any(|(_, run)| run.contains("hilt wokwi")))
        .expect("a job exports scenarios with `hilt wokwi`");
    assert!(
        exporter.id == wokwi.id || wokwi.needs().contains(&exporter.id.as_str()),
        "{} needs {}",
        wokwi.id,
        exporter.id
    );
    assert!(
        exporter.runs().any(|(_, run)| run.contains("scenarios")),
        "the export covers the bundled scenarios"
    );

    // Gated on the token: a step maps the secret to an environment variable
    // and writes a step output (with a notice when it is missing); the Wokwi
    // job's `if:` reads it through the exporting job's outputs.
    let (gate_job, gate_step) = jobs
        .iter()
        .find_map(|job| {
            job.steps()
                .iter()
                .find(|step| {
                    let env = &step["env"]["WOKWI_CLI_TOKEN"];
                    let run = step["run"].as_str().unwrap_or_default();
                    env.as_str()
                        .is_some_and(|value| value.contains("secrets.WOKWI_CLI_TOKEN"))
                        && run.contains("$GITHUB_OUTPUT")
                        && run.contains("::notice")
                })
                .map(|step| (job, step))
        })
        .expect("a step turns the WOKWI_CLI_TOKEN secret into a step output, with a notice");
    let step_id = gate_step["id"].as_str().expect("the gate step has an id");
    let output = gate_job.yaml["outputs"]
        .as_hash()
        .and_then(|outputs| {
            outputs.iter().find(|(_, value)| {
                value
                    .as_str()
                    .is_some_and(|value| value.contains(&format!("steps.{step_id}.outputs.")))
            })
        })
        .map(|(name, _)| name.as_str().unwrap().to_owned())
        .expect("the gate's job outputs the token's presence");
    let condition = wokwi.yaml["if"]
        .as_str()
        .expect("the Wokwi job has an `if:`");
    assert!(
        condition.contains(&format!("needs.{}.outputs.{output}", gate_job.id)),
        "{}: `if: {condition}` reads needs.{}.outputs.{output}",
        wokwi.id,
        gate_job.id
    );
    assert!(
        wokwi
            .needs()
            .iter()
            .any(|need| jobs.iter().any(|job| job.id == *need
                && job.step_using("actions/upload-artifact@v4").is_some()
                && job.runs().any(|(_, run)| run.contains("--release")))),
        "{} runs after the firmware job",
        wokwi.id
    );
}

#[test]
fn no_condition_reads_a_secret() {
    for job in jobs() {
        let mut conditions: Vec<&str> = job.yaml["if"].as_str().into_iter().collect();
        conditions.extend(job.steps().iter().filter_map(|step| step["if"].as_str()));
        for condition in conditions {
            assert!(
                !condition.contains("secrets."),
                "{}: job {}: `if: {condition}`: secrets cannot be used in `if:`",
                job.file.display(),
                job.id
            );
        }
    }
}

#[test]
fn the_scenario_tests_run_in_shards_from_one_nextest_archive() {
    let jobs = jobs();
    let archiver = jobs
        .iter()
        .find(|job| {
            job.runs().any(|(_, run)| {
                run.contains("cargo nextest archive") && run.contains("--workspace")
            })
        })
        .expect("a job builds the workspace's tests into a nextest archive");
    let archive_file = archiver
        .runs()
        .find_map(|(_, run)| {
            let mut words = run.split_whitespace();
            words.find(|word| *word == "--archive-file")?;
            words.next().map(str::to_owned)
        })
        .expect("the archive job names its --archive-file");
    let upload = archiver
        .step_using("actions/upload-artifact@v4")
        .unwrap_or_else(|| panic!("{}: uploads the archive", archiver.id));
    assert_eq!(
        upload["with"]["path"].as_str(),
        Some(archive_file.as_str()),
        "{}: uploads the archive it built",
        archiver.id
    );
    let artifact = upload["with"]["name"]
        .as_str()
        .expect("the archive's artifact has a name");

    let shards = jobs
        .iter()
        .find(|job| {
            job.runs()
                .any(|(_, run)| run.contains("cargo nextest run") && run.contains("--partition"))
        })
        .expect("a job runs a partition of the tests with nextest");
    assert!(
        shards.needs().contains(&archiver.id.as_str()),
        "{} needs {}",
        shards.id,
        archiver.id
    );
    let download = shards
        .step_using("actions/download-artifact@v4")
        .unwrap_or_else(|| panic!("{}: downloads the archive", shards.id));
    assert_eq!(download["with"]["name"].as_str(), Some(artifact));
    assert!(
        shards.step_using("dtolnay/rust-toolchain@stable").is_none()
            && !shards.runs().any(|(_, run)| run.contains("cargo build")),
        "{}: runs the archive's binaries and builds nothing",
        shards.id
    );

    let (_, run) = shards
        .runs()
        .find(|(_, run)| run.contains("cargo nextest run"))
        .unwrap();
    assert!(
        run.contains(&format!("--archive-file {archive_file}"))
            && run.contains("--workspace-remap"),
        "{}: runs from the archive: {run}",
        shards.id
    );
    assert!(
        run.contains("binary(=scenarios)") && run.contains("package(hilt-runner)"),
        "{}: runs the scenarios test binary of hilt-runner: {run}",
        shards.id
    );

    // Every shard of N runs, once: the matrix lists 1 to N, and the
    // partition is count:<shard>/N.
    let shard_count = "--partition count:${{ matrix.shard }}/";
    let total: u64 = run
        .split_once(shard_count)
        .map(|(_, rest)| rest.split_whitespace().next().unwrap_or_default())
        .unwrap_or_else(|| panic!("{}: runs `{shard_count}N`: {run}", shards.id))
        .parse()
        .expect("N is a number");
    let listed: Vec<i64> = shards.yaml["strategy"]["matrix"]["shard"]
        .as_vec()
        .expect("the matrix lists the shards")
        .iter()
        .map(|shard| shard.as_i64().expect("shards are numbers"))
        .collect();
    let expected: Vec<i64> = (1..=total as i64).collect();
    assert_eq!(
        listed, expected,
        "{}: the matrix runs every shard of {total}",
        shards.id
    );
    assert!(
        shards.yaml["strategy"]["fail-fast"].as_bool() == Some(false),
        "{}: one failing shard does not cancel the others",
        shards.id
    );
}

/// `PANIC_TEXT` is copied from esp-backtrace 0.20's panic handler; a newer
/// esp-backtrace may print another banner, so the images must still use
/// that version (bump both together).
#[test]
fn the_images_use_the_esp_backtrace_whose_banner_is_the_fail_text() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let lock =
        std::fs::read_to_string(root.join("firmware/Cargo.lock")).expect("firmware/Cargo.lock");
    assert!(
        lock.contains("name = \"esp-backtrace\"\nversion = \"0.20."),
        "firmware/ no longer locks esp-backtrace 0.20: check hilt_wokwi::PANIC_TEXT against its panic handler"
    );
    let template =
        std::fs::read_to_string(root.join("crates/hilt/templates/project/image/Cargo.toml.in"))
            .expect("the init template's image manifest");
    assert!(
        template.contains("esp-backtrace = { version = \"0.20\""),
        "the init template's image no longer uses esp-backtrace 0.20: check hilt_wokwi::PANIC_TEXT"
    );
}
