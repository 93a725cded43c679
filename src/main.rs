//! The `descent` command-line program.

fn main() {
    std::process::exit(descent::cli::main());
}
