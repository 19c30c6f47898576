//! Kinds of organisation (DOMAIN.md, "Organisations").

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What an organisation is in the union's structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    /// The city federation of trade unions (市总工会).
    Federation,
    /// A township or street union (乡镇工会).
    TownshipUnion,
    /// A grassroots union of a workplace (基层工会).
    GrassrootsUnion,
    /// An employer that pays union fees (用人单位).
    MemberUnit,
    /// The upper-level union that sends special allocations (上级工会).
    UpperUnion,
    /// The city finance bureau (市财政局).
    FinanceBureau,
    /// A department of the federation (内设股室: 办公室, 组织部, …).
    Department,
    /// An institution affiliated to the federation (所属事业单位, e.g. 困难职工帮扶中心).
    AffiliatedInstitution,
}

/// What kind of employer a member unit is; fee rates may differ by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    /// 行政单位
    Administrative,
    /// 事业单位
    PublicInstitution,
    /// 企业
    Enterprise,
}

macro_rules! text_enum {
    ($t:ty { $($v:ident => $s:literal),+ $(,)? }) => {
        impl $t {
            /// The stored and wire form.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }
            /// Parses the stored and wire form.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$v),)+ _ => None }
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use text_enum;

text_enum!(OrgKind {
    Federation => "federation",
    TownshipUnion => "township_union",
    GrassrootsUnion => "grassroots_union",
    MemberUnit => "member_unit",
    UpperUnion => "upper_union",
    FinanceBureau => "finance_bureau",
    Department => "department",
    AffiliatedInstitution => "affiliated_institution",
});

text_enum!(UnitKind {
    Administrative => "administrative",
    PublicInstitution => "public_institution",
    Enterprise => "enterprise",
});
