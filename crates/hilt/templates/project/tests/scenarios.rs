//! One test per file under scenarios/, each validated on its own, named by
//! its path: `cargo test --test scenarios -- kitchen` runs the matching ones.

fn main() {
    hilt::runner::scenario_tests("scenarios", {{crate}}::registry())
}
