//! The words the tables use for actions and states, and the audit log they
//! share: what a task's end makes of its message in the ledger.

use plugin_api::OperationKind;
use rusqlite::{Connection, params};

use super::{StoreError, TaskState};

/// Appends one record to the audit log.
pub(super) fn audit(
    conn: &Connection,
    at: i64,
    kind: &str,
    job: Option<i64>,
    task: Option<i64>,
    actor: Option<&str>,
    detail: &str,
) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT INTO audit (at, kind, job_id, task_id, actor, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
        .execute(params![at, kind, job, task, actor, detail])?;
    Ok(())
}

/// An action as the `jobs` table writes it.
pub(super) fn parse_action(text: &str) -> OperationKind {
    match text {
        "cancel" => OperationKind::Cancel,
        "update" => OperationKind::Update,
        _ => OperationKind::Recall,
    }
}

/// The ledger states that end a message's life at the vendor: a recall or a
/// cancel that reached it. Only another of them replaces one.
pub(super) const SETTLED: [&str; 2] = ["recalled", "cancelled"];

/// The ledger state after which `action` is never sent again for a message:
/// it already reached the vendor. An update may be sent again (new content).
pub(super) fn settled_state(action: OperationKind) -> Option<&'static str> {
    match action {
        OperationKind::Recall => Some(SETTLED[0]),
        OperationKind::Cancel => Some(SETTLED[1]),
        OperationKind::Update => None,
    }
}

/// The ledger state a message reaches when a task of `action` ends in `state`.
pub(super) fn message_state(action: OperationKind, state: TaskState) -> Option<&'static str> {
    Some(match (action, state) {
        (OperationKind::Recall, TaskState::Done | TaskState::AlreadyDone) => "recalled",
        (OperationKind::Cancel, TaskState::Done | TaskState::AlreadyDone) => "cancelled",
        (OperationKind::Update, TaskState::Done | TaskState::AlreadyDone) => "updated",
        (_, TaskState::Expired) => "expired",
        (OperationKind::Recall, TaskState::Failed) => "recall_failed",
        (OperationKind::Cancel, TaskState::Failed) => "cancel_failed",
        _ => return None,
    })
}
