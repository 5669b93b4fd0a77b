//! quayside's registry client as the tests set it up: anonymous, so that
//! the machine's docker or containers credentials never change a test, and
//! with quick retries for the tests that provoke them.

use quayside::registry::Connector;
use quayside::registry::distribution::{ClientOptions, CredentialEnv};
use std::time::Duration;

/// The default options without any credential lookup.
pub fn anonymous_options() -> ClientOptions {
    ClientOptions {
        credentials: CredentialEnv::anonymous(),
        ..ClientOptions::default()
    }
}

/// [`anonymous_options`] with backoffs of milliseconds, not seconds.
pub fn quick_retry_options() -> ClientOptions {
    ClientOptions {
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        ..anonymous_options()
    }
}

/// A connector with [`anonymous_options`].
pub fn anonymous_connector() -> Connector {
    Connector::new(anonymous_options())
}
