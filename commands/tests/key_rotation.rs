//! Master key rotation against the real database: every data key is
//! re-wrapped once, secrets keep opening, and reads never fail meanwhile.

mod keys;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use commands::secrets::SecretError;
use domain::ids::IntegrationId;
use keys::*;
use sqlx::PgPool;

#[sqlx::test(migrations = "../migrations")]
async fn rotation_rewraps_every_data_key_once(pool: PgPool) {
    let masters = Masters::new();
    let before = masters.data_keys(&pool, "m1", &["m1"]);
    let mut sealed = Vec::new();
    for n in 0..5 {
        let (t, integration) = (tenant(), IntegrationId::new_v7());
        sealed.push((
            t,
            integration,
            n,
            before.seal(t, integration, &secret(n)).await.unwrap(),
        ));
    }

    // Without the old key the rotation cannot read the rows: it says which.
    let err = masters
        .data_keys(&pool, "m2", &["m2"])
        .rotate_master_key()
        .await
        .unwrap_err();
    assert!(
        matches!(err, SecretError::UnknownMasterKey { .. }),
        "{err:?}"
    );

    let rotator = masters.data_keys(&pool, "m2", &["m1", "m2"]);
    let report = rotator.rotate_master_key().await.unwrap();
    assert_eq!((report.rewrapped, report.already_current), (5, 0));
    assert_eq!(
        report.to_string(),
        "master key 'm2': 5 data keys re-wrapped, 0 already current"
    );
    let rewrapped: Vec<(String, bool)> =
        sqlx::query_as("SELECT master_key_id, rewrapped_at IS NOT NULL FROM tenant_data_keys")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(
        rewrapped.iter().all(|row| *row == ("m2".into(), true)),
        "{rewrapped:?}"
    );

    // The old master key can go: every secret opens with the new one alone.
    let after = masters.data_keys(&pool, "m2", &["m2"]);
    for (t, integration, n, sealed) in &sealed {
        assert_eq!(
            after.open(*t, *integration, sealed).await.unwrap(),
            secret(*n)
        );
    }

    let again = rotator.rotate_master_key().await.unwrap();
    assert_eq!(
        (
            again.rewrapped,
            again.already_current,
            again.changed_concurrently
        ),
        (0, 5, 0)
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn reads_never_fail_while_the_master_key_rotates(pool: PgPool) {
    const TENANTS: usize = 60;
    let masters = Arc::new(Masters::new());
    let setup = masters.data_keys(&pool, "m1", &["m1"]);
    let mut sealed = Vec::new();
    for n in 0..TENANTS {
        let (t, integration) = (tenant(), IntegrationId::new_v7());
        sealed.push((
            t,
            integration,
            n,
            setup.seal(t, integration, &secret(n)).await.unwrap(),
        ));
    }
    let sealed = Arc::new(sealed);
    let rotating = Arc::new(AtomicBool::new(true));
    let (reads, failures, reads_during_rotation) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );

    // Servers configured with both master keys, each pass with an empty
    // cache so every open reads its data key row.
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (pool, masters, sealed) = (pool.clone(), masters.clone(), sealed.clone());
            let (rotating, reads, failures, during) = (
                rotating.clone(),
                reads.clone(),
                failures.clone(),
                reads_during_rotation.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let still_rotating = rotating.load(Ordering::SeqCst);
                    let server = masters.data_keys(&pool, "m1", &["m1", "m2"]);
                    for (t, integration, n, sealed) in sealed.iter() {
                        match server.open(*t, *integration, sealed).await {
                            Ok(opened) if opened == secret(*n) => {}
                            other => {
                                failures.fetch_add(1, Ordering::SeqCst);
                                eprintln!("failed read: {other:?}");
                            }
                        }
                        reads.fetch_add(1, Ordering::SeqCst);
                        if rotating.load(Ordering::SeqCst) {
                            during.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    if !still_rotating {
                        break;
                    }
                }
            })
        })
        .collect();

    // Rotate back and forth so rotations and reads overlap many times.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut rewrapped = 0;
    for active in ["m2", "m1", "m2", "m1", "m2"] {
        let report = masters
            .data_keys(&pool, active, &["m1", "m2"])
            .rotate_master_key()
            .await
            .unwrap();
        assert_eq!(report.changed_concurrently, 0);
        rewrapped += report.rewrapped;
    }
    rotating.store(false, Ordering::SeqCst);
    for reader in readers {
        reader.await.unwrap();
    }

    assert_eq!(rewrapped, 5 * TENANTS as u64);
    assert_eq!(
        failures.load(Ordering::SeqCst),
        0,
        "reads failed during rotation"
    );
    assert!(
        reads_during_rotation.load(Ordering::SeqCst) > TENANTS as u64,
        "reads overlapped the rotation ({} of {})",
        reads_during_rotation.load(Ordering::SeqCst),
        reads.load(Ordering::SeqCst)
    );
    let current: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tenant_data_keys WHERE master_key_id = 'm2'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(current, TENANTS as i64);
}
