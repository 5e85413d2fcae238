fn main() -> std::process::ExitCode {
    callhook::main()
}
