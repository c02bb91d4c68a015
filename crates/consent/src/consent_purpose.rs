//! Which purposes consent may be recorded for.

use tessera_core::Catalog;

use crate::error::{Error, Result};

/// Checks that `purpose` is defined and declares `requires_consent: true`.
pub fn check_purpose(catalog: &Catalog, purpose: &str) -> Result<()> {
    let names = || catalog.purposes().keys().map(String::as_str);
    match catalog.purposes().get(purpose) {
        None => Err(Error::UnknownPurpose {
            purpose: purpose.to_string(),
            guess: tessera_core::did_you_mean(purpose, names())
                .map_or(String::new(), |g| format!(" (did you mean `{g}`?)")),
            known: names().collect::<Vec<_>>().join(", "),
        }),
        Some(p) if !p.requires_consent => Err(Error::NotConsentPurpose {
            purpose: purpose.to_string(),
            known: {
                let with: Vec<&str> = catalog
                    .purposes()
                    .values()
                    .filter(|p| p.requires_consent)
                    .map(|p| p.name.as_str())
                    .collect();
                if with.is_empty() {
                    "none does yet".to_string()
                } else {
                    with.join(", ")
                }
            },
        }),
        Some(_) => Ok(()),
    }
}

/// Checks that `name` is a join key of an entity (consent is recorded per join-key value).
pub fn check_key_name(catalog: &Catalog, name: &str) -> Result<()> {
    let keys: Vec<&str> = catalog
        .entities()
        .values()
        .flat_map(|e| e.join_keys.iter().map(String::as_str))
        .collect();
    if keys.contains(&name) {
        return Ok(());
    }
    Err(Error::BadEntity {
        entity: name.to_string(),
        reason: format!(
            "`{name}` is not a join key{}; the join keys are: {}",
            tessera_core::did_you_mean(name, keys.iter().copied())
                .map_or(String::new(), |g| format!(" (did you mean `{g}`?)")),
            keys.join(", ")
        ),
    })
}
