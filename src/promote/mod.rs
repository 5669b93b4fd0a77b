//! Writing a release line into `releases.toml` (`quayside promote`): the
//! text edit itself (`edit`) and the narrowing of a plan to that one line
//! (`scope`). Registry reads and printing live in `commands::promote`.

pub mod edit;
pub mod scope;
