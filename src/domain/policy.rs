//! Who may do what: the one table of roles and permissions, and the clerk's own-organisation
//! scope (DOMAIN.md, "Who uses the service"). Handlers name the permission they need in their
//! signature (`Authorized<perm::ManageOrgs>`); nothing else decides access.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::DomainError;
use super::orgs::text_enum;

/// A caller's role, carried in its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Organisations, users, API clients, rate tables.
    Admin,
    /// A grassroots or township union clerk: acts only for its own organisation.
    Clerk,
    /// Rights-protection officer (权益保障部): reviews hardship applications, runs campaigns.
    RightsOfficer,
    /// Organisation department officer (组织部): reviews township grants.
    OrgOfficer,
    /// Finance officer (财务资产部): allocates, disburses, records use, settles; union fees.
    FinanceOfficer,
    /// Leader (分管副主席): final approval.
    Leader,
    /// Funds-review committee office (经费审查委员会办公室): reads everything, changes nothing.
    Auditor,
    /// The city finance bureau's system client.
    FinanceBureau,
}

text_enum!(Role {
    Admin => "admin",
    Clerk => "clerk",
    RightsOfficer => "rights_officer",
    OrgOfficer => "org_officer",
    FinanceOfficer => "finance_officer",
    Leader => "leader",
    Auditor => "auditor",
    FinanceBureau => "finance_bureau",
});

impl Role {
    /// Every role, for tests and documentation.
    pub const ALL: [Role; 8] = [
        Role::Admin,
        Role::Clerk,
        Role::RightsOfficer,
        Role::OrgOfficer,
        Role::FinanceOfficer,
        Role::Leader,
        Role::Auditor,
        Role::FinanceBureau,
    ];
}

/// Something a caller may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read organisations (a clerk: only its own).
    ReadOrgs,
    /// Create and change organisations.
    ManageOrgs,
    /// Create and list people and system clients.
    ManageUsers,
    /// Read funds and their balances.
    ReadFunds,
    /// Create funds and change their budgets.
    ManageFunds,
    /// Record where a fund's money comes from (the finance bureau posts appropriations).
    PostFundSources,
    /// Read the audit trail, verify it, export it.
    ReadAudit,
    /// Take an audit checkpoint on demand.
    TakeCheckpoint,
    /// Read union-fee rates, declarations and statements (a clerk: only its own unit's).
    ReadFees,
    /// Declare a unit's payroll (a clerk: only for its own unit).
    DeclareFees,
    /// Change the fee-rate table.
    ManageFeeRates,
    /// Send batches of declarations (the finance bureau's system).
    DeclareFeeBatches,
    /// Record union-fee payments and remittances.
    RecordFeePayments,
    /// Read hardship applications, masked (a clerk: only its own organisation's).
    ReadHardship,
    /// File a hardship application, submit it, withdraw it (a clerk: its own organisation's).
    FileHardship,
    /// Review, return, reject or approve a hardship application (above the leader threshold the
    /// approval machine leaves approving to a leader; no one takes two duties in one case).
    ReviewHardship,
    /// See a person's ID number, phone and bank account whole (each reveal is audited).
    RevealPii,
    /// Let an application through despite the same person's active aid that year.
    OverrideDuplicates,
    /// Create hardship campaigns and add their beneficiaries.
    ManageCampaigns,
    /// Read township grants (a clerk: only its own union's).
    ReadGrants,
    /// Apply for a township grant (a clerk, for its own union).
    FileGrants,
    /// Submit or withdraw a township grant application (a clerk: its own union's).
    SubmitGrants,
    /// Review, return, reject or approve a township grant application (as `ReviewHardship`).
    ReviewGrants,
    /// Approve a hardship campaign (never its creator).
    ApproveCampaigns,
    /// Read the reconciliation checks and the annual reports.
    ReadReports,
    /// Read items and their traces (a clerk: only its own organisation's).
    ReadItems,
    /// Allocate, disburse and settle items.
    MoveItemMoney,
    /// Report how an item's money was used (a clerk: for its own organisation's items).
    RecordItemUse,
    /// Set up a year's budget lines, record basic expenditure and fixed assets, explain variances.
    ManageBudget,
    /// See which years' books are open, closing or closed.
    ReadBooks,
    /// Ask to close a year's books (with a reason).
    RequestYearClose,
    /// Close a year's books, or turn the request down (never the one who asked).
    ApproveYearClose,
    /// Post an adjusting entry, with its reason, dated in a closed year.
    PostAdjustingEntries,
}

impl Permission {
    /// Every permission, for tests and documentation (the README's "Who may do what" names each).
    pub const ALL: [Permission; 33] = [
        Permission::ReadOrgs,
        Permission::ManageOrgs,
        Permission::ManageUsers,
        Permission::ReadFunds,
        Permission::ManageFunds,
        Permission::PostFundSources,
        Permission::ReadAudit,
        Permission::TakeCheckpoint,
        Permission::ReadFees,
        Permission::DeclareFees,
        Permission::ManageFeeRates,
        Permission::DeclareFeeBatches,
        Permission::RecordFeePayments,
        Permission::ReadHardship,
        Permission::FileHardship,
        Permission::ReviewHardship,
        Permission::RevealPii,
        Permission::OverrideDuplicates,
        Permission::ManageCampaigns,
        Permission::ReadGrants,
        Permission::FileGrants,
        Permission::SubmitGrants,
        Permission::ReviewGrants,
        Permission::ApproveCampaigns,
        Permission::ReadReports,
        Permission::ReadItems,
        Permission::MoveItemMoney,
        Permission::RecordItemUse,
        Permission::ManageBudget,
        Permission::ReadBooks,
        Permission::RequestYearClose,
        Permission::ApproveYearClose,
        Permission::PostAdjustingEntries,
    ];
}

/// The policy table. Read it as "who may": each permission lists its roles.
pub fn allows(role: Role, permission: Permission) -> bool {
    use {Permission as P, Role as R};
    match permission {
        P::ReadOrgs | P::ReadFunds => true,
        P::ManageOrgs | P::ManageUsers => role == R::Admin,
        P::ManageFunds => role == R::FinanceOfficer,
        P::PostFundSources => matches!(role, R::FinanceOfficer | R::FinanceBureau),
        P::ReadAudit => matches!(role, R::Auditor | R::Admin | R::FinanceOfficer | R::Leader),
        P::TakeCheckpoint => matches!(role, R::Auditor | R::Admin),
        P::ReadFees => true,
        P::DeclareFees => matches!(role, R::Clerk | R::FinanceOfficer | R::FinanceBureau),
        P::ManageFeeRates => role == R::Admin,
        P::DeclareFeeBatches | P::RecordFeePayments => matches!(role, R::FinanceOfficer | R::FinanceBureau),
        P::ReadHardship => matches!(role, R::Clerk | R::RightsOfficer | R::FinanceOfficer | R::Leader | R::Auditor),
        P::FileHardship => matches!(role, R::Clerk | R::RightsOfficer),
        P::ReviewHardship => matches!(role, R::RightsOfficer | R::Leader),
        P::RevealPii => matches!(role, R::RightsOfficer | R::FinanceOfficer | R::Leader),
        P::OverrideDuplicates => role == R::Leader,
        P::ManageCampaigns => role == R::RightsOfficer,
        P::ReadGrants => matches!(role, R::Clerk | R::OrgOfficer | R::FinanceOfficer | R::Leader | R::Auditor),
        P::FileGrants => role == R::Clerk,
        P::SubmitGrants => matches!(role, R::Clerk | R::OrgOfficer),
        P::ReviewGrants => matches!(role, R::OrgOfficer | R::Leader),
        P::ApproveCampaigns => role == R::Leader,
        P::ReadReports => matches!(role, R::Auditor | R::FinanceOfficer | R::Leader | R::FinanceBureau),
        P::ReadItems => role != R::Admin,
        P::MoveItemMoney => role == R::FinanceOfficer,
        P::RecordItemUse => matches!(role, R::FinanceOfficer | R::Clerk),
        P::ManageBudget => role == R::FinanceOfficer,
        P::ReadBooks => true,
        P::RequestYearClose | P::PostAdjustingEntries => role == R::FinanceOfficer,
        P::ApproveYearClose => role == R::Leader,
    }
}

/// Whether the caller is a person or a system client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// A person, logged in with a password.
    User,
    /// A system, logged in with client credentials.
    Client,
}

/// Who is calling: what a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user's or client's id.
    pub subject: Uuid,
    /// Person or system.
    pub kind: SubjectKind,
    /// The role the token grants.
    pub role: Role,
    /// The organisation the caller belongs to.
    pub org_id: Uuid,
}

/// Which organisations' data a caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every organisation's.
    All,
    /// Only this organisation's: anything else answers "not found", never "forbidden", so that
    /// a clerk cannot learn that another organisation's object exists.
    Org(Uuid),
}

impl Scope {
    /// The one organisation this scope is limited to, if any (a list's filter).
    pub fn org(self) -> Option<Uuid> {
        match self {
            Scope::All => None,
            Scope::Org(own) => Some(own),
        }
    }

    /// The organisation filter of a list when the caller asks for `asked` (or for every one):
    /// `None` when nothing can be visible (a clerk asking for another organisation's), else the
    /// filter to apply, `Some(None)` meaning every organisation. A clerk asking for nothing gets
    /// its own.
    pub fn list_filter(self, asked: Option<Uuid>) -> Option<Option<Uuid>> {
        match (self, asked) {
            (Scope::Org(own), Some(asked)) if own != asked => None,
            (Scope::Org(own), _) => Some(Some(own)),
            (Scope::All, asked) => Some(asked),
        }
    }

    /// Whether an object owned by `org_id` is visible in this scope.
    pub fn sees(self, org_id: Uuid) -> bool {
        match self {
            Scope::All => true,
            Scope::Org(own) => own == org_id,
        }
    }
}

impl Caller {
    /// The caller's data scope: a clerk acts only within its own organisation.
    pub fn scope(&self) -> Scope {
        match self.role {
            Role::Clerk => Scope::Org(self.org_id),
            _ => Scope::All,
        }
    }

    /// The actor as written into the audit trail and the ledger: `user:<id>` or `client:<id>`.
    pub fn actor(&self) -> String {
        match self.kind {
            SubjectKind::User => format!("user:{}", self.subject),
            SubjectKind::Client => format!("client:{}", self.subject),
        }
    }
}

/// What a user's or client's row says of its access now: what every token of it must still
/// match, and what a change to it is compared on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing<'a> {
    /// Its role, as stored.
    pub role: &'a str,
    /// Its organisation.
    pub org_id: Uuid,
    /// Whether it is disabled.
    pub disabled: bool,
    /// Its token version: a token carrying another is revoked.
    pub token_version: i32,
}

impl Standing<'_> {
    /// Whether a token naming `caller`, issued under token version `version`, still grants
    /// access: the subject is not disabled, and its role, organisation and token version are
    /// the token's. Anything else is a revoked token (API.md, "Auth").
    pub fn admits(&self, caller: &Caller, version: i32) -> bool {
        !self.disabled
            && self.token_version == version
            && self.role == caller.role.as_str()
            && self.org_id == caller.org_id
    }

    /// An admin that can act.
    pub fn is_enabled_admin(&self) -> bool {
        self.role == Role::Admin.as_str() && !self.disabled
    }

    /// Whether changing to `after` ends the subject's tokens: it was disabled or enabled again,
    /// or its role or organisation changed — what a token grants is no longer what it says.
    pub fn change_ends_tokens(&self, after: &Standing<'_>) -> bool {
        self.disabled != after.disabled || self.role != after.role || self.org_id != after.org_id
    }

    /// Whether changing to `after` takes an enabled admin away (disabled or demoted): allowed
    /// only while another enabled admin remains ([`last_admin`]).
    pub fn loses_an_admin(&self, after: &Standing<'_>) -> bool {
        self.is_enabled_admin() && !after.is_enabled_admin()
    }
}

/// The refusal to disable or demote the last enabled admin: nobody could manage users after it.
pub fn last_admin() -> DomainError {
    DomainError::conflict("last_admin", "this is the last enabled admin: enable or appoint another admin first")
}

/// Who sets a user's password, as the audit event names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordSetter {
    /// An admin, for someone else.
    Admin,
    /// The user itself (an admin setting its own password included).
    Itself,
}

impl PasswordSetter {
    /// The audit event's `by`.
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordSetter::Admin => "admin",
            PasswordSetter::Itself => "self",
        }
    }
}

/// Who may set user `user`'s password: an admin, anyone's, without the current password; a
/// user, only its own, and only with its current password (`old_password_given`; whether it is
/// right is the service's to check, under the login throttle).
pub fn password_setter(caller: &Caller, user: Uuid, old_password_given: bool) -> Result<PasswordSetter, DomainError> {
    let by_admin = caller.role == Role::Admin;
    let by_self = caller.kind == SubjectKind::User && caller.subject == user;
    if !by_admin && !by_self {
        return Err(DomainError::Forbidden {
            code: "forbidden",
            detail: "your role does not allow this action".into(),
        });
    }
    if !old_password_given && !by_admin {
        return Err(DomainError::invalid("old_password", "is required to change your own password"));
    }
    Ok(if by_self { PasswordSetter::Itself } else { PasswordSetter::Admin })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admins_manage_organisations_and_people() {
        for role in Role::ALL {
            assert_eq!(allows(role, Permission::ManageOrgs), role == Role::Admin);
            assert_eq!(allows(role, Permission::ManageUsers), role == Role::Admin);
        }
    }

    #[test]
    fn auditors_read_the_trail_but_clerks_do_not() {
        assert!(allows(Role::Auditor, Permission::ReadAudit));
        assert!(!allows(Role::Clerk, Permission::ReadAudit));
        assert!(!allows(Role::Auditor, Permission::ManageFunds));
    }

    #[test]
    fn a_clerk_sees_only_its_own_organisation() {
        let own = Uuid::from_u128(1);
        let clerk = Caller { subject: Uuid::from_u128(9), kind: SubjectKind::User, role: Role::Clerk, org_id: own };
        assert!(clerk.scope().sees(own));
        assert!(!clerk.scope().sees(Uuid::from_u128(2)));
        let auditor = Caller { role: Role::Auditor, ..clerk };
        assert!(auditor.scope().sees(Uuid::from_u128(2)));
    }

    #[test]
    fn roles_round_trip_through_their_text() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
    }

    fn standing(role: &str, disabled: bool) -> Standing<'_> {
        Standing { role, org_id: Uuid::from_u128(1), disabled, token_version: 3 }
    }

    #[test]
    fn a_token_holds_only_while_its_subject_is_as_it_says() {
        let caller = Caller {
            subject: Uuid::from_u128(9),
            kind: SubjectKind::User,
            role: Role::Clerk,
            org_id: Uuid::from_u128(1),
        };
        let now = standing("clerk", false);
        assert!(now.admits(&caller, 3));
        assert!(!now.admits(&caller, 2), "an older token version is revoked");
        assert!(!standing("clerk", true).admits(&caller, 3), "disabled");
        assert!(!standing("leader", false).admits(&caller, 3), "another role");
        assert!(!Standing { org_id: Uuid::from_u128(2), ..now }.admits(&caller, 3), "another organisation");
    }

    #[test]
    fn disabling_or_moving_a_subject_ends_its_tokens_but_renaming_does_not() {
        let was = standing("clerk", false);
        assert!(!was.change_ends_tokens(&was));
        assert!(was.change_ends_tokens(&standing("clerk", true)));
        assert!(standing("clerk", true).change_ends_tokens(&was), "enabling again too");
        assert!(was.change_ends_tokens(&standing("auditor", false)));
        assert!(was.change_ends_tokens(&Standing { org_id: Uuid::from_u128(2), ..was }));
    }

    #[test]
    fn an_admin_is_lost_when_disabled_or_demoted_only() {
        let admin = standing("admin", false);
        assert!(admin.loses_an_admin(&standing("admin", true)));
        assert!(admin.loses_an_admin(&standing("leader", false)));
        assert!(!admin.loses_an_admin(&admin));
        assert!(!standing("admin", true).loses_an_admin(&standing("leader", true)), "it was not enabled");
        assert!(matches!(last_admin(), DomainError::Conflict { code: "last_admin", .. }));
    }

    #[test]
    fn an_admin_sets_anyones_password_and_a_user_only_its_own_with_the_old_one() {
        let (me, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let user = Caller { subject: me, kind: SubjectKind::User, role: Role::Clerk, org_id: Uuid::from_u128(7) };
        let admin = Caller { role: Role::Admin, ..user.clone() };
        assert_eq!(password_setter(&admin, other, false), Ok(PasswordSetter::Admin));
        assert_eq!(password_setter(&admin, me, false).map(PasswordSetter::as_str), Ok("self"));
        assert_eq!(password_setter(&user, me, true).map(PasswordSetter::as_str), Ok("self"));
        let Err(DomainError::Invalid(fields)) = password_setter(&user, me, false) else { panic!("no old password") };
        assert_eq!(fields[0].field, "old_password");
        assert!(matches!(password_setter(&user, other, true), Err(DomainError::Forbidden { code: "forbidden", .. })));
        let client = Caller { kind: SubjectKind::Client, ..user };
        assert!(password_setter(&client, me, true).is_err(), "a client with a user's id is not that user");
    }

    #[test]
    fn a_clerks_list_is_its_own_organisations_whatever_it_asks() {
        let (own, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert_eq!(Scope::Org(own).list_filter(None), Some(Some(own)));
        assert_eq!(Scope::Org(own).list_filter(Some(own)), Some(Some(own)));
        assert_eq!(Scope::Org(own).list_filter(Some(other)), None, "another's: nothing, not an error");
        assert_eq!(Scope::All.list_filter(Some(other)), Some(Some(other)));
        assert_eq!(Scope::All.list_filter(None), Some(None));
    }
}
