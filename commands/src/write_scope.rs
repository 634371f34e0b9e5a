//! What one command's write needs to tell the command layer, carried in a
//! task-local beside the cqrs-es framework call (whose API returns `()`).

use std::cell::Cell;
use std::future::Future;

use crate::store::Written;

tokio::task_local! {
    static SCOPE: WriteScope;
}

struct WriteScope {
    log_command: bool,
    written: Cell<Option<Written>>,
    from_cache: Cell<bool>,
}

/// What the store reported about one command run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriteReport {
    /// What the command wrote, if it wrote anything.
    pub written: Option<Written>,
    /// Whether the decision was made on a cached state.
    pub from_cache: bool,
}

/// Runs `future` (one framework call) in a fresh scope. `log_command`: record
/// the command id in `command_log` (only ids a client chose can be retried,
/// so only those are recorded).
pub(crate) async fn run<F: Future>(log_command: bool, future: F) -> (F::Output, WriteReport) {
    let scope = WriteScope {
        log_command,
        written: Cell::new(None),
        from_cache: Cell::new(false),
    };
    SCOPE
        .scope(scope, async move {
            let output = future.await;
            let report = SCOPE.with(|s| WriteReport {
                written: s.written.get(),
                from_cache: s.from_cache.get(),
            });
            (output, report)
        })
        .await
}

/// Whether the running command's id goes into `command_log` (true outside
/// any scope: recording is the safe default).
pub(crate) fn log_command() -> bool {
    SCOPE.try_with(|s| s.log_command).unwrap_or(true)
}

/// Reports what the running command wrote.
pub(crate) fn report_written(written: Written) {
    let _ = SCOPE.try_with(|s| s.written.set(Some(written)));
}

/// Reports that the running command decided on a cached state.
pub(crate) fn report_from_cache() {
    let _ = SCOPE.try_with(|s| s.from_cache.set(true));
}
