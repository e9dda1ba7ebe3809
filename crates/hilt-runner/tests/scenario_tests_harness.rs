//! `scenario_tests`: one test per file, and a broken file fails only its
//! own test, with its diagnostics, while the others run.

use hilt_runner::{Registry, ScenarioTests};
use libtest_mimic::Arguments;

const PASSING: &str = "\
name: a reading arrives
devices:
  probe: { app: thermometer }
steps:
  - expect: { topic: devices/probe/temperature/degrees, within: 2s }
";

const BROKEN: &str = "\
name: a typo in a step
devices:
  probe: { app: thermometer }
steps:
  - expcet: { topic: devices/probe/temperature/degrees, within: 2s }
";

const FAILING: &str = "\
name: a reading that never comes
devices:
  probe: { app: thermometer }
steps:
  - expect: { topic: devices/probe/elsewhere, within: 2s }
";

#[test]
fn each_file_is_its_own_test_and_a_broken_one_fails_alone() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let scenarios = folder.path().join("scenarios");
    std::fs::create_dir_all(scenarios.join("probe")).expect("folders");
    std::fs::write(scenarios.join("probe/reading.yaml"), PASSING).expect("written");
    std::fs::write(scenarios.join("probe/broken.yaml"), BROKEN).expect("written");
    std::fs::write(scenarios.join("silent.yml"), FAILING).expect("written");

    let tests = ScenarioTests::new(Registry::with_bundled_apps())
        .folder(&scenarios)
        .relative_to(folder.path());
    let trials = tests.trials().expect("the folder is searchable");
    let names: Vec<&str> = trials.iter().map(|trial| trial.name()).collect();
    assert_eq!(
        names,
        [
            "scenarios/probe/broken.yaml",
            "scenarios/probe/reading.yaml",
            "scenarios/silent.yml"
        ]
    );

    let arguments = Arguments {
        test_threads: Some(1),
        quiet: true,
        ..Arguments::default()
    };
    let conclusion = libtest_mimic::run(&arguments, trials);
    assert_eq!(conclusion.num_passed, 1);
    assert_eq!(conclusion.num_failed, 2);

    // Only the passing file is left when a filter picks it.
    let arguments = Arguments {
        filter: Some("reading".to_owned()),
        quiet: true,
        ..Arguments::default()
    };
    let conclusion = libtest_mimic::run(&arguments, tests.trials().expect("searchable"));
    assert_eq!((conclusion.num_passed, conclusion.num_failed), (1, 0));
    assert_eq!(conclusion.num_filtered_out, 2);
}
