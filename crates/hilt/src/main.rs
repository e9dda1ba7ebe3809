//! `hilt`: the command line with the bundled reference apps. A project's own
//! binary is the same line with its own registry (see the library's
//! documentation).

fn main() {
    hilt::main_with(hilt::runner::Registry::with_bundled_apps())
}
