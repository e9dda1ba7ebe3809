//! The project's own `hilt`: every subcommand (check, replay, transcript,
//! wokwi, ...) with this project's apps. `cargo run -- replay scenarios/`.

fn main() {
    hilt::main_with({{crate}}::registry())
}
