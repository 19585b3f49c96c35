//! `token create`, `token list` and `token revoke`: API tokens through
//! the application facade.

use super::{cli_actor, io, open_app, CliError, TokenAction};
use crate::app::TokenError;
use crate::clock::Clock;
use crate::config::Settings;
use crate::store::Actor;
use std::io::Write;
use std::sync::Arc;

/// How `token list` shows an instant.
const MINUTE: &str = "%Y-%m-%d %H:%M UTC";

/// `token create | list | revoke`.
pub(super) async fn token(
    action: TokenAction,
    settings: Settings,
    clock: Arc<dyn Clock>,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let actor = Actor::named(cli_actor());
    let app = open_app(settings, clock).await?;
    match action {
        TokenAction::Create { name, role } => {
            let token = app
                .create_token(&name, role, &actor)
                .await
                .map_err(|e| match e {
                    TokenError::BadName(e) => CliError::Usage(format!("--name: {e}")),
                    TokenError::Store(e) => CliError::Store(e),
                })?;
            writeln!(
                out,
                "created token {name} with role {role}; it is shown once, store it now:"
            )
            .map_err(io)?;
            writeln!(out, "{token}").map_err(io)?;
        }
        TokenAction::List => {
            let tokens = app.tokens().await?;
            let rows: Vec<[String; 4]> = tokens
                .iter()
                .map(|t| {
                    [
                        t.name.clone(),
                        t.role.to_string(),
                        t.created_at.format(MINUTE).to_string(),
                        t.revoked_at
                            .map_or("-".to_string(), |r| r.format(MINUTE).to_string()),
                    ]
                })
                .collect();
            let header = ["NAME", "ROLE", "CREATED", "REVOKED"];
            write!(out, "{}", super::columns(&header, &rows)).map_err(io)?;
            writeln!(out, "{} token(s)", tokens.len()).map_err(io)?;
        }
        TokenAction::Revoke { name } => {
            if app.revoke_token(&name, &actor).await? {
                writeln!(out, "revoked token {name}; it is refused from now on").map_err(io)?;
            } else {
                return Err(CliError::Usage(format!(
                    "there is no active token named {name}"
                )));
            }
        }
    }
    Ok(())
}
