//! Inputs that once broke the code under test, found by fuzzing, kept as
//! regression tests. They live in a test binary of their own because a
//! regression could abort the process (a stack overflow cannot be caught)
//! and must not take the other tests with it.

use hilt_fuzzing::fuzz_scenario_parser;

/// Block lists nested 20,000 deep (a 40 KB file): the YAML loader that
/// marked-yaml drives (yaml-rust2's `Parser::load_node` and
/// `load_sequence`) recurses once per level with no bound, and overflowed
/// the main thread's 8 MiB stack, so `hilt check` aborted instead of
/// reporting a diagnostic. `crates/hilt-scenario/src/raw.rs` now rejects
/// nesting deeper than 64 levels, with its line and column, before the
/// loader runs.
#[test]
fn deeply_nested_block_lists_are_a_diagnostic_not_a_stack_overflow() {
    let text = format!(
        "name: deep\ndevices: {{ p: {{ app: thermometer }} }}\nsteps:\n{}x\n",
        "- ".repeat(20_000)
    );
    // The main thread's stack, as in the CLI.
    let handle = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || fuzz_scenario_parser(text.as_bytes()))
        .expect("spawn");
    if let Err(panic) = handle.join() {
        std::panic::resume_unwind(panic);
    }
}
