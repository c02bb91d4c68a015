//! Names what a user edited but did not register: a feature (or service) that the working
//! copy defines but the registered version does not gets "`v:f` is defined in
//! features/x.yaml but not registered (hint: `tessera apply`)" instead of "unknown feature".

use std::path::Path;

use anyhow::{bail, Result};
use tessera_core::{Catalog, FeatureRef, FeatureRepo};

/// Checks that every requested feature (`view:feature`, `view:*`) and the service resolve in
/// the registered `catalog`; what does not, but the working copy defines, is named with the
/// file that defines it and the hint to apply.
pub(crate) fn check_registered(
    repo: &Path,
    catalog: &Catalog,
    features: &[String],
    service: Option<&str>,
) -> Result<()> {
    if let Some(name) = service {
        if let Err(e) = catalog.service(name) {
            if let Some(file) = working_copy(repo).and_then(|w| {
                w.service(name).ok()?;
                Some(origin(repo, w.origin("feature_service", name)))
            }) {
                bail!("feature service `{name}` is defined in {file} but not registered (hint: `tessera apply --repo {}`)", repo.display());
            }
            return Err(e.into());
        }
    }
    for text in features {
        let Ok(r) = FeatureRef::parse(text) else {
            continue; // the read reports a malformed reference itself
        };
        if let Err(e) = catalog.resolve_refs(std::slice::from_ref(&r)) {
            if let Some(file) = working_copy(repo).and_then(|w| {
                w.resolve_refs(std::slice::from_ref(&r)).ok()?;
                Some(origin(repo, w.view_origin(&r.view)))
            }) {
                bail!("`{r}` is defined in {file} but not registered (hint: `tessera apply --repo {}`)", repo.display());
            }
            return Err(e.into());
        }
    }
    Ok(())
}

/// The working copy's catalog, if it validates (schemas are not read: this only names files).
fn working_copy(repo: &Path) -> Option<Catalog> {
    let (_, files) = FeatureRepo::read_definitions(repo).ok()?;
    Catalog::build_from_files(files).ok()
}

/// A definition file's path relative to the repository.
fn origin(repo: &Path, file: &Path) -> String {
    file.strip_prefix(repo)
        .unwrap_or(file)
        .display()
        .to_string()
}
