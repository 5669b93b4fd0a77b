//! Writing a release line into `releases.toml` (`quayside promote`): the
//! text edit itself (`edit`), the narrowing of a plan to that one line
//! (`scope`), and the index that holds a platform manifest (`holder`).
//! Printing lives in `commands::promote`.

pub mod edit;
pub mod holder;
pub mod scope;
