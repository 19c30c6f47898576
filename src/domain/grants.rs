//! Township union work grants (DOMAIN.md, fund 3): the year's formula allocation.
//!
//! Each township gets `base` plus a share of what is left, `rest = total − base × n`, in
//! proportion to its members. Shares are computed in whole fen: each township first gets
//! `⌊rest × members / Σmembers⌋`; the few fen those floors leave over (fewer than the number of
//! townships) go one each to the townships with the **largest remainders** (Hamilton's method),
//! ties broken by more members first, then by the order of the request. So the parts add up to
//! `total` exactly, none is below `base`, and the same request always gives the same answer.

use std::collections::HashSet;

use uuid::Uuid;

use super::error::{DomainError, FieldError};
use super::money::Money;
use super::orgs::OrgKind;

/// One township's line of a formula request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// Its members (会员人数), which weigh its share of the rest.
    pub members: u32,
}

/// Splits `total` between the townships: `base` each, the rest by members, exact to the fen.
/// Answers the amounts in the order of `townships`.
pub fn formula(total: Money, base: Money, townships: &[Share]) -> Result<Vec<Money>, DomainError> {
    let n = i128::try_from(townships.len()).unwrap_or(i128::MAX);
    if townships.is_empty() {
        return Err(DomainError::invalid("townships", "at least one township"));
    }
    let rest = total.fen() - base.fen().saturating_mul(n);
    if rest < 0 {
        return Err(DomainError::Invalid(vec![FieldError::new(
            "base_per_township",
            format!("{base} × {} townships is more than the total {total}", townships.len()),
        )]));
    }
    let members: i128 = townships.iter().map(|t| i128::from(t.members)).sum();
    if members == 0 && rest > 0 {
        return Err(DomainError::invalid("townships", "the rest is shared by members: at least one member is needed"));
    }
    // (index, floor, remainder) of each exact share rest × m / M.
    let mut parts: Vec<(usize, i128, i128)> = townships
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let numerator = rest * i128::from(t.members);
            if members == 0 { (i, 0, 0) } else { (i, numerator / members, numerator % members) }
        })
        .collect();
    let mut left = rest - parts.iter().map(|p| p.1).sum::<i128>();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|&a, &b| {
        parts[b].2.cmp(&parts[a].2).then(townships[b].members.cmp(&townships[a].members)).then(a.cmp(&b))
    });
    for i in order {
        if left == 0 {
            break;
        }
        parts[i].1 += 1;
        left -= 1;
    }
    parts
        .into_iter()
        .map(|(_, share, _)| {
            let fen = i64::try_from(base.fen() + share).map_err(|_| DomainError::invalid("total", "too large"))?;
            Money::from_fen(fen).map_err(|_| DomainError::invalid("total", "too large"))
        })
        .collect()
}

/// Checks the townships of a formula request, each given with its organisation's kind as the
/// books hold it (`None`: no such organisation): each must be a township union, and each may be
/// named once. Every bad line is named at once, by its place in the request.
pub fn check_townships(townships: &[(Uuid, Option<&str>)]) -> Result<(), DomainError> {
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (i, (org, kind)) in townships.iter().enumerate() {
        let field = format!("townships[{i}].org_id");
        match kind {
            None => errors.push(FieldError::new(field, "no such organisation")),
            Some(kind) if *kind != OrgKind::TownshipUnion.as_str() => {
                errors.push(FieldError::new(field, "is not a township union"));
            }
            Some(_) if !seen.insert(*org) => errors.push(FieldError::new(field, "appears twice")),
            Some(_) => {}
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(DomainError::Invalid(errors)) }
}

/// Refuses a split in which a township would get nothing: a grant of 0.00 pays no one, and an
/// item of 0.00 cannot move through its stages.
pub fn refuse_empty_shares(parts: &[Money]) -> Result<(), DomainError> {
    match parts.iter().position(Money::is_zero) {
        Some(i) => Err(DomainError::invalid(format!("townships[{i}]"), "its share would be 0.00")),
        None => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(s: &str) -> Money {
        s.parse().unwrap()
    }

    fn shares(members: &[u32]) -> Vec<Share> {
        members.iter().map(|&members| Share { members }).collect()
    }

    #[test]
    fn the_parts_add_up_to_the_total_to_the_fen() {
        let parts =
            formula(m("279999.99"), m("10000.00"), &shares(&[120, 80, 200, 45, 60, 300, 95, 110, 70, 150])).unwrap();
        let sum = Money::checked_sum(parts.iter().copied()).unwrap();
        assert_eq!(sum, m("279999.99"));
        assert!(parts.iter().all(|p| *p >= m("10000.00")));
        // 179,999.99 of rest over 1,230 members: the township of 300 gets the most.
        assert_eq!(parts[5], m("53902.44"));
    }

    #[test]
    fn leftover_fen_go_to_the_largest_remainders_then_more_members_then_request_order() {
        // 0.10 over three equal townships: 3, 3, 3 fen and one left, which goes to the first.
        assert_eq!(formula(m("0.10"), m("0.00"), &shares(&[1, 1, 1])).unwrap(), [m("0.04"), m("0.03"), m("0.03")]);
        // Equal remainders and members: the earlier in the request.
        assert_eq!(formula(m("0.10"), m("0.00"), &shares(&[1, 2, 1])).unwrap(), [m("0.03"), m("0.05"), m("0.02")]);
        // Equal remainders (2 fen each, of 4): the larger township.
        assert_eq!(formula(m("0.02"), m("0.00"), &shares(&[1, 3])).unwrap(), [m("0.00"), m("0.02")]);
    }

    #[test]
    fn a_base_beyond_the_total_or_no_members_is_refused() {
        assert!(formula(m("100.00"), m("50.01"), &shares(&[1, 1])).is_err());
        assert!(formula(m("100.00"), m("50.00"), &shares(&[0, 0])).is_ok(), "nothing left to share");
        assert!(formula(m("100.00"), m("10.00"), &shares(&[0, 0])).is_err());
        assert!(formula(m("100.00"), m("10.00"), &[]).is_err());
    }

    #[test]
    fn every_bad_township_line_is_named_at_once() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert_eq!(check_townships(&[(a, Some("township_union")), (b, Some("township_union"))]), Ok(()));
        let Err(DomainError::Invalid(errors)) = check_townships(&[
            (a, Some("township_union")),
            (b, None),
            (b, Some("member_unit")),
            (a, Some("township_union")),
        ]) else {
            panic!("not refused")
        };
        let named: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.message.as_str())).collect();
        assert_eq!(
            named,
            [
                ("townships[1].org_id", "no such organisation"),
                ("townships[2].org_id", "is not a township union"),
                ("townships[3].org_id", "appears twice"),
            ]
        );
    }

    #[test]
    fn a_township_with_nothing_to_get_is_refused() {
        assert_eq!(refuse_empty_shares(&[m("0.01"), m("5.00")]), Ok(()));
        assert_eq!(
            refuse_empty_shares(&[m("1.00"), m("0.00"), m("0.00")]),
            Err(DomainError::invalid("townships[1]", "its share would be 0.00"))
        );
        // What the formula gives a township of no members when there is no base.
        let parts = formula(m("1.00"), m("0.00"), &shares(&[1, 0])).unwrap();
        assert!(refuse_empty_shares(&parts).is_err());
    }

    proptest! {
        #[test]
        fn parts_always_add_up_and_never_fall_below_the_base(
            total_fen in 0_i64..10_000_000_000,
            base_share in 0_u32..=100,
            members in proptest::collection::vec(0_u32..5_000, 1..40),
        ) {
            let n = i64::try_from(members.len()).unwrap();
            let base_fen = total_fen / n * i64::from(base_share) / 100;
            let total = Money::from_fen(total_fen).unwrap();
            let base = Money::from_fen(base_fen).unwrap();
            let townships = shares(&members);
            match formula(total, base, &townships) {
                Ok(parts) => {
                    prop_assert_eq!(parts.len(), members.len());
                    prop_assert_eq!(parts.iter().map(Money::fen).sum::<i128>(), i128::from(total_fen));
                    prop_assert!(parts.iter().all(|p| *p >= base));
                    // Proportional to within a fen.
                    let rest = i128::from(total_fen - base_fen * n);
                    let all: i128 = members.iter().map(|&x| i128::from(x)).sum();
                    for (p, &mm) in parts.iter().zip(&members) {
                        let exact_floor = if all == 0 { 0 } else { rest * i128::from(mm) / all };
                        let got = p.fen() - i128::from(base_fen);
                        prop_assert!(got == exact_floor || got == exact_floor + 1);
                    }
                }
                Err(_) => prop_assert!(members.iter().all(|&x| x == 0) && total_fen > base_fen * n),
            }
        }
    }
}
