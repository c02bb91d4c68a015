use std::fmt;

use serde::{Deserialize, Serialize};

/// How sensitive a feature's values are. Purposes allow a set of classifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// Anyone may see it (content metadata, popularity).
    Public,
    /// Internal business data that is not about a person.
    Internal,
    /// Personal data: describes an identifiable person.
    Personal,
    /// Special-category personal data (health, beliefs, precise location …).
    Sensitive,
}

impl Classification {
    /// All classifications, least sensitive first.
    pub const ALL: [Classification; 4] = [
        Classification::Public,
        Classification::Internal,
        Classification::Personal,
        Classification::Sensitive,
    ];

    /// The name used in YAML.
    pub fn as_str(&self) -> &'static str {
        match self {
            Classification::Public => "public",
            Classification::Internal => "internal",
            Classification::Personal => "personal",
            Classification::Sensitive => "sensitive",
        }
    }
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a feature's values may live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// In the cloud (online and offline stores). The default.
    #[default]
    Cloud,
    /// On the device, and may be synced to the cloud.
    Device,
    /// Only on the device: never serialised into a network request or response.
    DeviceOnly,
}

impl Placement {
    /// The name used in YAML.
    pub fn as_str(&self) -> &'static str {
        match self {
            Placement::Cloud => "cloud",
            Placement::Device => "device",
            Placement::DeviceOnly => "device_only",
        }
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
