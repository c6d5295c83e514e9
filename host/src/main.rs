//! The `cordon` binary: see [`cordon::cli`].

fn main() -> std::process::ExitCode {
    cordon::cli::main()
}
