//! The database thread's isolation and durability, seen from outside.

use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn reads_of_a_file_store_do_not_wait_for_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("ledger.db")).unwrap();
    let message = NewMessage {
        account: "a".into(),
        remote_id: "1".into(),
        sent_at_ms: 1_000,
        tags: vec!["x".into()],
        meta: serde_json::Value::Null,
        age: Vec::new(),
    };
    store.track(vec![message], None).await.unwrap();
    // Hold the database thread inside an operation.
    let (entered, inside) = std_mpsc::channel();
    let (release, held) = std_mpsc::channel::<()>();
    let writer = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .run(move |_| {
                    let _ = entered.send(());
                    let _ = held.recv();
                    Ok(())
                })
                .await
        }
    });
    tokio::task::spawn_blocking(move || inside.recv())
        .await
        .unwrap()
        .unwrap();

    let read = tokio::time::timeout(
        Duration::from_secs(5),
        store.messages(Some("x".into()), None, 0, 10),
    )
    .await;
    let _ = release.send(());
    let rows = read.expect("the read waited for the writer").unwrap();
    assert_eq!(rows.len(), 1, "the read sees what was committed");
    writer.await.unwrap().unwrap();
}

#[tokio::test]
async fn api_writes_wait_for_the_fsync_and_bookkeeping_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("s.db")).unwrap();
    let level =
        |conn: &Connection| Ok(conn.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0))?);
    // 2: FULL, 1: NORMAL.
    assert_eq!(store.run(level).await.unwrap(), 2, "savepoint writes");
    assert_eq!(store.run_bare(level).await.unwrap(), 2, "tracking");
    assert_eq!(
        store.run_bookkeeping(level).await.unwrap(),
        1,
        "claims and results"
    );
    assert_eq!(store.run_bare(level).await.unwrap(), 2, "and back");
}
