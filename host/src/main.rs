//! The `cordon` binary: see [`cordon::cli`].

/// mimalloc, not glibc's malloc: glibc gives each busy thread an arena of up
/// to 64 MiB and keeps what it frees, so a 10,000-identity run held five of
/// them (546 MB RSS, most of it freed memory); mimalloc returns free pages.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cordon::cli::main()
}
