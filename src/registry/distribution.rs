//! The OCI distribution API backend.
//! CONTRACT (skeleton): the distribution helper implements this.

use crate::config::location::RepositoryLocation;
use crate::registry::Repository;
use std::sync::Arc;

#[derive(Clone, Debug, Default)]
pub struct ClientOptions {}

#[derive(Clone, Debug, Default)]
pub struct RequestCounts {}

pub struct DistributionClient {}

impl DistributionClient {
    pub fn new(_options: ClientOptions) -> Self {
        DistributionClient {}
    }
    pub fn repository(&self, _location: RepositoryLocation) -> Arc<dyn Repository> {
        todo!()
    }
    pub fn request_counts(&self) -> RequestCounts {
        RequestCounts::default()
    }
}
