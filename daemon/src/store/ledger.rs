//! The ledger of sent messages: tracking, delivery ids, and the reads that
//! list or preview messages.

use rusqlite::{Connection, params, params_from_iter};

use super::schedules;
use super::select::where_clause;
use super::{Delivery, MessageRow, NewMessage, Preview, StoreError, TrackResult};
use crate::selector::Selector;

const MESSAGE_COLUMNS: &str = "m.id, m.account, m.remote_id, m.sent_at, m.tags, m.meta, m.state";

/// Records a delivery id; [`StoreError::Replay`] when it was seen.
pub(super) fn insert_delivery(conn: &Connection, delivery: &Delivery) -> Result<(), StoreError> {
    let inserted = conn
        .prepare_cached("INSERT INTO deliveries (client, id, expires_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")?
        .execute(params![delivery.client, delivery.id, delivery.expires_at_ms])?;
    if inserted == 0 {
        Err(StoreError::Replay)
    } else {
        Ok(())
    }
}

/// Tracks `messages`, after recording `delivery`. A replayed delivery id is
/// answered as a value (`Ok(Err(Replay))`) having written nothing.
///
/// Runs bare, not in a savepoint of its own (whose sub-journal copied every
/// page this touches): the one refusal, a replayed delivery id, is found by
/// the first write, which then wrote nothing, so the transaction stays sound
/// and its other operations commit. After that every statement ignores
/// conflicts, so only a failing database fails this; then the transaction
/// rolls back and every operation in it is answered with an error (none is
/// told it committed), as for the dispatcher's bare writes.
pub(super) fn track(
    conn: &Connection,
    messages: &[NewMessage],
    delivery: Option<&Delivery>,
) -> Result<Result<TrackResult, StoreError>, StoreError> {
    if let Some(delivery) = delivery {
        match insert_delivery(conn, delivery) {
            Err(StoreError::Replay) => return Ok(Err(StoreError::Replay)),
            other => other?,
        }
    }
    let now = crate::clock::now_ms();
    let mut result = TrackResult::default();
    let mut insert = conn.prepare_cached(
        "INSERT INTO messages (account, remote_id, sent_at, tags, meta, tracked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (account, remote_id) DO NOTHING",
    )?;
    let mut tag = conn
        .prepare_cached("INSERT OR IGNORE INTO message_tags (tag, message_id) VALUES (?1, ?2)")?;
    for message in messages {
        let tags = serde_json::to_string(&message.tags).unwrap_or_else(|_| "[]".into());
        let meta = serde_json::to_string(&message.meta).unwrap_or_else(|_| "null".into());
        let changed = insert.execute(params![
            message.account,
            message.remote_id,
            message.sent_at_ms,
            tags,
            meta,
            now
        ])?;
        if changed == 0 {
            result.existing += 1;
            continue;
        }
        result.inserted += 1;
        let id = conn.last_insert_rowid();
        for t in &message.tags {
            tag.execute(params![t, id])?;
        }
        if !message.age.is_empty() {
            schedules::insert_plans(conn, id, &message.age, now)?;
        }
    }
    Ok(Ok(result))
}

/// How many messages `selector` matches, per account, and the first `sample`.
pub(super) fn preview(
    conn: &Connection,
    selector: &Selector,
    sample: u32,
) -> Result<Preview, StoreError> {
    let (clause, values) = where_clause(selector);
    let mut preview = Preview::default();
    let mut counts = conn.prepare(&format!(
        "SELECT m.account, count(*) FROM messages m WHERE {clause} GROUP BY m.account"
    ))?;
    let rows = counts.query_map(params_from_iter(values.iter()), |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (account, n) = row?;
        preview.matched += n as u64;
        preview.per_account.insert(account, n as u64);
    }
    let mut list = conn.prepare(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE {clause} ORDER BY m.id LIMIT {sample}"
    ))?;
    preview.sample = list
        .query_map(params_from_iter(values.iter()), row_to_message)?
        .collect::<Result<_, _>>()?;
    Ok(preview)
}

/// A page of the ledger: messages after `after_id`, by tag and account.
pub(super) fn messages(
    conn: &Connection,
    tag: Option<String>,
    account: Option<String>,
    after_id: i64,
    limit: u32,
) -> Result<Vec<MessageRow>, StoreError> {
    let mut sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.id > ?1");
    let mut values: Vec<rusqlite::types::Value> = vec![after_id.into()];
    if let Some(tag) = tag {
        sql.push_str(" AND m.id IN (SELECT message_id FROM message_tags WHERE tag = ?)");
        values.push(tag.into());
    }
    if let Some(account) = account {
        sql.push_str(" AND m.account = ?");
        values.push(account.into());
    }
    sql.push_str(&format!(" ORDER BY m.id LIMIT {limit}"));
    let mut query = conn.prepare(&sql)?;
    let rows = query
        .query_map(params_from_iter(values.iter()), row_to_message)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

fn row_to_message(row: &rusqlite::Row<'_>) -> rusqlite::Result<MessageRow> {
    let tags: String = row.get(4)?;
    let meta: String = row.get(5)?;
    Ok(MessageRow {
        id: row.get(0)?,
        account: row.get(1)?,
        remote_id: row.get(2)?,
        sent_at_ms: row.get(3)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        meta: serde_json::from_str(&meta).unwrap_or(serde_json::Value::Null),
        state: row.get(6)?,
    })
}
