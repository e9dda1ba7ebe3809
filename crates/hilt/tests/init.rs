//! `hilt init` writes a project that builds and passes its own tests, and
//! its own command line runs the hilt subcommands on its app.
//!
//! The project is built with the cargo running this test, offline, against
//! this checkout (`--hilt-path`), with this workspace's lockfile so the
//! versions match. It needs a target folder of its own: the `cargo test`
//! running this holds the lock on this workspace's. The image crate is
//! built only where the riscv32imc-unknown-none-elf target is installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn cargo(project: &Path, arguments: &[&str]) -> Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // `--offline` right after the subcommand, before any `--`.
    Command::new(cargo)
        .arg(arguments[0])
        .arg("--offline")
        .args(&arguments[1..])
        .current_dir(project)
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("init-project-target"),
        )
        .output()
        .expect("cargo runs")
}

/// Whether libtest's line for `test` (names are padded to one width) ends
/// in `result`.
fn test_says(output: &str, test: &str, result: &str) -> bool {
    output.lines().any(|line| {
        line.strip_prefix("test ")
            .and_then(|rest| rest.strip_prefix(test))
            .is_some_and(|rest| rest.trim_start() == format!("... {result}"))
    })
}

fn succeeded(output: &Output) -> String {
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{all}");
    all
}

#[test]
fn an_initialised_project_builds_tests_and_runs_its_own_cli() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let project = folder.path().join("plant");
    let init = Command::new(env!("CARGO_BIN_EXE_hilt"))
        .arg("init")
        .arg(&project)
        .arg("--hilt-path")
        .arg(repository_root())
        .output()
        .expect("hilt runs");
    let said = succeeded(&init);
    assert!(said.contains("wrote 23 files"), "{said}");
    std::fs::copy(
        repository_root().join("Cargo.lock"),
        project.join("Cargo.lock"),
    )
    .expect("the lockfile copies");

    // The app's unit tests and one test per scenario file.
    let tested = succeeded(&cargo(&project, &["test"]));
    assert!(
        tested.contains(
            "test tests::a_press_toggles_the_lamp_once_and_a_release_does_nothing ... ok"
        ),
        "{tested}"
    );
    assert!(test_says(&tested, "scenarios/lamp.yaml", "ok"), "{tested}");

    // The project's own hilt knows its app.
    let checked = succeeded(&cargo(
        &project,
        &["run", "-q", "--", "check", "scenarios/"],
    ));
    assert!(checked.contains("ok scenarios/lamp.yaml"), "{checked}");
    let replayed = succeeded(&cargo(
        &project,
        &["run", "-q", "--", "replay", "--verbose", "scenarios/"],
    ));
    assert!(
        replayed.contains("2 passed, 0 failed, 0 errors"),
        "{replayed}"
    );
    assert!(replayed.contains("kitchen.button pressed"), "{replayed}");

    // Its own hilt exports its own app's scenario for Wokwi: the image of
    // image/, with the lamp's parts as image/diagram.json names them.
    let exported = succeeded(&cargo(
        &project,
        &["run", "-q", "--", "wokwi", "scenarios/lamp.yaml"],
    ));
    for expected in [
        "# hilt-app: lamp\n",
        "# hilt-env: HILT_CLIENT_ID=kitchen\n",
        "the `lamp` image, built in image/ with\n",
        "HILT_BROKER=<host:port> cargo build --release\n",
        // The copy image/wokwi.toml loads: Wokwi needs the .elf extension.
        "#   cp target/riscv32imc-unknown-none-elf/release/plant-image \
         target/riscv32imc-unknown-none-elf/release/plant-image.elf\n",
        "version: 1\n",
        "steps:\n",
        // The press, on the diagram's pushbutton.
        "set-control:\n      part-id: \"btn1\"\n      control: \"pressed\"\n      value: 1\n",
        // The lamp's LED, read on its GPIO (app/src/pins.rs) of the board.
        "expect-pin:\n      part-id: \"esp\"\n      pin: \"4\"\n      value: 1\n",
        // The state message, as the image's serial log prints it.
        "wait-serial: \"[hilt] publish kitchen/lamp qos=1 retain=1 payload=on\\n\"\n",
    ] {
        assert!(
            exported.contains(expected),
            "no {expected:?} in:\n{exported}"
        );
    }
    // A scenario that publishes is refused, with its line and the reason.
    let refused = cargo(
        &project,
        &["run", "-q", "--", "wokwi", "scenarios/mqtt_switch.yaml"],
    );
    let said = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(
        said.contains("scenarios/mqtt_switch.yaml:10: `publish` from the harness"),
        "{said}"
    );

    // A broken file fails its own test only.
    std::fs::write(
        project.join("scenarios/broken.yaml"),
        "name: broken\ndevices:\n  hall: { app: lamp }\nsteps:\n  - press: hall.buton\n",
    )
    .expect("written");
    let broken = cargo(&project, &["test", "--test", "scenarios"]);
    let output = format!("{}{}", text(&broken.stdout), text(&broken.stderr));
    assert!(!broken.status.success(), "{output}");
    assert!(test_says(&output, "scenarios/lamp.yaml", "ok"), "{output}");
    assert!(
        test_says(&output, "scenarios/broken.yaml", "FAILED"),
        "{output}"
    );
    assert!(output.contains("broken.yaml:5:"), "{output}");

    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|output| text(&output.stdout))
        .unwrap_or_default();
    if installed
        .lines()
        .any(|line| line.trim() == "riscv32imc-unknown-none-elf")
    {
        let image = project.join("image");
        let built = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
            .args(["build", "--release"])
            .current_dir(&image)
            .env("HILT_BROKER", "broker.hivemq.com:1883")
            .env("HILT_CLIENT_ID", "kitchen")
            .output()
            .expect("cargo runs");
        succeeded(&built);
    } else {
        println!(
            "the image crate was not built: the riscv32imc-unknown-none-elf target is not \
             installed (rustup target add riscv32imc-unknown-none-elf)"
        );
    }
}

#[test]
fn init_refuses_a_folder_that_is_not_empty() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    std::fs::write(folder.path().join("keep.txt"), "mine").expect("written");
    let output = Command::new(env!("CARGO_BIN_EXE_hilt"))
        .arg("init")
        .arg(folder.path())
        .arg("--name")
        .arg("plant")
        .output()
        .expect("hilt runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("the folder exists and is not empty"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(folder.path().join("keep.txt")).expect("kept"),
        "mine"
    );
}

/// The image's glue is the bundled image's: the copies must not drift.
#[test]
fn the_image_glue_is_the_bundled_images() {
    for file in ["link.rs", "serial.rs"] {
        let bundled = std::fs::read_to_string(repository_root().join("firmware/src").join(file))
            .expect("firmware/src readable");
        let template = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("templates/project/image/src")
                .join(file),
        )
        .expect("template readable");
        assert_eq!(bundled, template, "{file} differs from firmware/src/{file}");
    }
}
