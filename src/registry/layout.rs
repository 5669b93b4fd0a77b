//! `oci:` layout directories as a repository.
//! CONTRACT (skeleton): the layout helper implements this.

use crate::config::location::RepositoryLocation;

pub struct LayoutRepository {
    location: RepositoryLocation,
}

impl LayoutRepository {
    pub fn new(location: RepositoryLocation) -> Self {
        LayoutRepository { location }
    }
}

use crate::digest::Digest;
use crate::registry::{BlobReader, ManifestRef, Mount, RawManifest, RegistryError, Repository};
use async_trait::async_trait;

#[async_trait]
impl Repository for LayoutRepository {
    fn location(&self) -> &RepositoryLocation {
        &self.location
    }
    async fn list_tags(&self) -> Result<Vec<String>, RegistryError> {
        todo!()
    }
    async fn resolve_tag(&self, _tag: &str) -> Result<Option<Digest>, RegistryError> {
        todo!()
    }
    async fn manifest_exists(&self, _digest: &Digest) -> Result<bool, RegistryError> {
        todo!()
    }
    async fn get_manifest(
        &self,
        _reference: ManifestRef<'_>,
    ) -> Result<Option<RawManifest>, RegistryError> {
        todo!()
    }
    async fn put_manifest(
        &self,
        _manifest: &RawManifest,
        _tag: Option<&str>,
    ) -> Result<(), RegistryError> {
        todo!()
    }
    async fn blob_exists(&self, _digest: &Digest) -> Result<bool, RegistryError> {
        todo!()
    }
    async fn get_blob(&self, _digest: &Digest) -> Result<BlobReader, RegistryError> {
        todo!()
    }
    async fn put_blob(&self, _digest: &Digest, _blob: BlobReader) -> Result<(), RegistryError> {
        todo!()
    }
    async fn mount_blob(
        &self,
        _digest: &Digest,
        _from: &RepositoryLocation,
    ) -> Result<Mount, RegistryError> {
        todo!()
    }
}
