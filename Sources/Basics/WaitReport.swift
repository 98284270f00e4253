/// What the current task is about to wait for, told to whoever shows progress (`certctl run`
/// prints it when the wait lasts): the CA, DNS servers, the API server. A task-local: the caller
/// sets it around its work. A wait told again with the same words before its first `;` is the
/// same wait going on (a retry), and keeps its start.
public enum WaitReport {
    @TaskLocal public static var waitingFor: (@Sendable (String) -> Void)?
}
