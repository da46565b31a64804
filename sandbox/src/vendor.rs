//! The four vendors as one enum: how seed requests, stats and fault settings
//! name them, and the endpoint names each one counts requests under.

use serde::{Deserialize, Serialize};

use crate::{dingtalk, feishu, push};

/// A vendor, as named in seed requests, stats and fault settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Vendor {
    #[serde(rename = "feishu")]
    Feishu,
    #[serde(rename = "dingtalk")]
    DingTalk,
    #[serde(rename = "engagelab")]
    EngageLab,
    #[serde(rename = "jpush")]
    JPush,
}

impl Vendor {
    pub const ALL: [Vendor; 4] = [
        Vendor::Feishu,
        Vendor::DingTalk,
        Vendor::EngageLab,
        Vendor::JPush,
    ];

    /// As in JSON: `feishu`, `dingtalk`, `engagelab`, `jpush`.
    pub fn name(self) -> &'static str {
        match self {
            Vendor::Feishu => "feishu",
            Vendor::DingTalk => "dingtalk",
            Vendor::EngageLab => "engagelab",
            Vendor::JPush => "jpush",
        }
    }

    /// Position in `ALL`.
    pub(crate) fn index(self) -> usize {
        match self {
            Vendor::Feishu => 0,
            Vendor::DingTalk => 1,
            Vendor::EngageLab => 2,
            Vendor::JPush => 3,
        }
    }

    /// Endpoint names, as in `requests` of the stats.
    pub(crate) fn endpoints(self) -> &'static [&'static str] {
        match self {
            Vendor::Feishu => feishu::ENDPOINTS,
            Vendor::DingTalk => dingtalk::ENDPOINTS,
            Vendor::EngageLab => push::ENGAGELAB_ENDPOINTS,
            Vendor::JPush => push::JPUSH_ENDPOINTS,
        }
    }

    /// The vendor a request path belongs to, by its real prefix.
    pub(crate) fn of_path(path: &str) -> Option<Vendor> {
        if path.starts_with("/open-apis/") {
            Some(Vendor::Feishu)
        } else if path == "/gettoken" || path.starts_with("/topapi/") {
            Some(Vendor::DingTalk)
        } else if path.starts_with("/v4/") {
            Some(Vendor::EngageLab)
        } else if path.starts_with("/v3/") {
            Some(Vendor::JPush)
        } else {
            None
        }
    }
}
