//! Why the exporter stops with an error, and the exit status that says so:
//! a configuration problem is [`EX_CONFIG`] (78, so systemd does not
//! restart into the same failure), anything else 1.

use crate::config::EX_CONFIG;
use crate::server::BindError;

/// A fatal error and its class. Its `Display` is the error's, so `{e:#}`
/// prints the whole chain as before.
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    /// The configuration cannot work (e.g. `listen` cannot be bound): exit
    /// [`EX_CONFIG`].
    #[error(transparent)]
    Config(anyhow::Error),
    /// Anything else: exit 1.
    #[error(transparent)]
    Other(anyhow::Error),
}

impl Fatal {
    /// The process exit status for this error.
    pub fn code(&self) -> u8 {
        match self {
            Fatal::Config(_) => EX_CONFIG,
            Fatal::Other(_) => 1,
        }
    }
}

impl From<anyhow::Error> for Fatal {
    fn from(e: anyhow::Error) -> Fatal {
        Fatal::Other(e)
    }
}

impl From<BindError> for Fatal {
    fn from(e: BindError) -> Fatal {
        Fatal::Config(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bind_error_is_a_configuration_error() {
        let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap();
        let e: Fatal = crate::server::bind(addr).await.unwrap_err().into();
        assert_eq!(e.code(), 78);
        assert!(
            e.to_string()
                .starts_with(&format!("cannot listen on {addr}: ")),
            "{e}"
        );
    }

    #[test]
    fn anything_else_exits_1_with_its_whole_chain() {
        let e: Fatal = anyhow::anyhow!("no such thing")
            .context("cannot build the API client")
            .into();
        assert_eq!(e.code(), 1);
        assert_eq!(
            format!("{e:#}"),
            "cannot build the API client: no such thing"
        );
        assert_eq!(e.to_string(), "cannot build the API client");
    }
}
