//! API tokens: named once, found by hash, revoked at once, listed newest
//! first.

use super::fixtures::{at, audit_log, line, migrated, now, requester};
use chrono::{DateTime, Duration, Utc};
use ocset_scheduler::domain::Role;
use ocset_scheduler::store::{Actor, ApiToken, Store, StoreError};
use std::sync::Arc;

conformance! {
    store: [
        tokens_are_named_once_found_by_hash_and_revoked_at_once,
        tokens_are_listed_newest_first,
    ],
    raw: [],
    db: [],
    postgres_only: [],
}

fn token(name: &str, role: Role, created_at: DateTime<Utc>) -> ApiToken {
    ApiToken {
        name: name.into(),
        role,
        created_at,
        revoked_at: None,
    }
}

async fn tokens_are_named_once_found_by_hash_and_revoked_at_once(store: Arc<dyn Store>) {
    migrated(&store).await;
    let admin = Actor::named("cli:admin");
    let created_at = at("2024-06-01T09:00:00.250Z");
    let dashboard = token("ppu-dashboard", Role::Viewer, created_at);
    store
        .create_token(&dashboard, "hash-dashboard", &admin)
        .await
        .unwrap();
    assert_eq!(
        store.token_by_hash("hash-dashboard").await.unwrap(),
        Some(dashboard.clone())
    );
    assert_eq!(store.token_by_hash("hash-unknown").await.unwrap(), None);

    // The name is taken: refused, whatever the role or hash, and nothing
    // is written.
    let again = token("ppu-dashboard", Role::Admin, now());
    match store.create_token(&again, "hash-again", &admin).await {
        Err(StoreError::DuplicateToken(name)) => assert_eq!(name, "ppu-dashboard"),
        other => panic!("expected DuplicateToken, got {other:?}"),
    }
    assert_eq!(store.token_by_hash("hash-again").await.unwrap(), None);
    assert_eq!(
        store.tokens().await.unwrap(),
        std::slice::from_ref(&dashboard)
    );

    // Revoked: refused from that moment.
    let root = requester("token:root", "req-9");
    let revoked_at = now();
    assert!(store
        .revoke_token("ppu-dashboard", revoked_at, &root)
        .await
        .unwrap());
    assert_eq!(store.token_by_hash("hash-dashboard").await.unwrap(), None);
    let revoked = ApiToken {
        revoked_at: Some(revoked_at),
        ..dashboard.clone()
    };
    assert_eq!(
        store.tokens().await.unwrap(),
        std::slice::from_ref(&revoked)
    );

    // Nothing to revoke: false, and no audit line.
    let audited = audit_log(&store, None).await;
    assert!(!store
        .revoke_token("ppu-dashboard", now() + Duration::hours(1), &root)
        .await
        .unwrap());
    assert!(!store
        .revoke_token("no-such-token", now(), &root)
        .await
        .unwrap());
    assert_eq!(audit_log(&store, None).await, audited);
    // The first revocation's time stands.
    assert_eq!(store.tokens().await.unwrap(), [revoked]);

    // A revoked token's name stays taken.
    match store.create_token(&again, "hash-again", &admin).await {
        Err(StoreError::DuplicateToken(name)) => assert_eq!(name, "ppu-dashboard"),
        other => panic!("expected DuplicateToken, got {other:?}"),
    }

    assert_eq!(
        audit_log(&store, None).await,
        [
            line(
                created_at,
                "cli:admin",
                "token.created",
                None,
                None,
                Some("name=ppu-dashboard role=viewer"),
            ),
            line(
                revoked_at,
                "token:root",
                "token.revoked",
                None,
                Some("req-9"),
                Some("name=ppu-dashboard"),
            ),
        ]
    );
}

async fn tokens_are_listed_newest_first(store: Arc<dyn Store>) {
    migrated(&store).await;
    let admin = Actor::named("cli:admin");
    let created = [
        token("first", Role::Admin, at("2024-06-01T09:00:00Z")),
        token("third", Role::Intake, at("2024-06-01T11:00:00Z")),
        token("second", Role::Supervisor, at("2024-06-01T10:00:00Z")),
        // Created at the same instant as "third", but after it.
        token("fourth", Role::Viewer, at("2024-06-01T11:00:00Z")),
    ];
    for (i, t) in created.iter().enumerate() {
        store
            .create_token(t, &format!("hash-{i}"), &admin)
            .await
            .unwrap();
    }
    assert!(store.revoke_token("second", now(), &admin).await.unwrap());
    let names: Vec<(String, bool)> = store
        .tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.name, t.revoked_at.is_some()))
        .collect();
    assert_eq!(
        names,
        [
            ("fourth".to_string(), false),
            ("third".to_string(), false),
            ("second".to_string(), true),
            ("first".to_string(), false),
        ]
    );
}
