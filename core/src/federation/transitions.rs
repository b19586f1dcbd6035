//! Which status changes people may make to a neuron, and the role each needs: one table,
//! enforced by the hub's federation service for every caller (server function, HTTP route,
//! command line). The hub's own changes (heartbeats, the silence sweeper, joins) follow the
//! join policy and the heartbeat rules, not this table.

use super::NeuronStatus;
use crate::Role;

/// One status change a person may make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: NeuronStatus,
    pub to: NeuronStatus,
    /// The least role that may make it.
    pub role: Role,
    /// The audit action it is recorded as.
    pub action: &'static str,
}

const fn t(from: NeuronStatus, to: NeuronStatus, role: Role, action: &'static str) -> Transition {
    Transition {
        from,
        to,
        role,
        action,
    }
}

use NeuronStatus::{Active, Degraded, Draining, Pending, Retired, Unhealthy};

/// Every status change a person may make. Letting a neuron in (a pending one, or a retired
/// one back) is a security decision: admins only. Anything not listed is refused; a pending
/// neuron that should not join is removed (denied), never retired or drained, so no path
/// leads from pending to active but approval.
pub const TRANSITIONS: &[Transition] = &[
    t(Pending, Active, Role::Admin, "neuron.approve"),
    t(Retired, Active, Role::Admin, "neuron.reactivate"),
    t(Draining, Active, Role::Operator, "neuron.reactivate"),
    t(Degraded, Active, Role::Operator, "neuron.reactivate"),
    t(Unhealthy, Active, Role::Operator, "neuron.reactivate"),
    t(Active, Draining, Role::Operator, "neuron.drain"),
    t(Degraded, Draining, Role::Operator, "neuron.drain"),
    t(Unhealthy, Draining, Role::Operator, "neuron.drain"),
    t(Active, Retired, Role::Operator, "neuron.retire"),
    t(Degraded, Retired, Role::Operator, "neuron.retire"),
    t(Unhealthy, Retired, Role::Operator, "neuron.retire"),
    t(Draining, Retired, Role::Operator, "neuron.retire"),
];

/// Statuses a person may ask for; the others are the hub's to set.
pub const SETTABLE: [NeuronStatus; 3] = [Active, Draining, Retired];

/// Why a status change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The target is one the hub sets by itself.
    #[error("status: `{0}` cannot be set by hand; use active, draining or retired")]
    NotSettable(NeuronStatus),
    /// Already there.
    #[error("the neuron is already {0}")]
    Unchanged(NeuronStatus),
    /// No such change in the table.
    #[error("a {from} neuron cannot become {to}{hint}")]
    NotAllowed {
        from: NeuronStatus,
        to: NeuronStatus,
        hint: &'static str,
    },
    /// The change exists, but needs a higher role.
    #[error("{action} (from {from} to {to}) needs the `{needed}` role; you have `{have}`")]
    Role {
        from: NeuronStatus,
        to: NeuronStatus,
        action: &'static str,
        needed: Role,
        have: Role,
    },
}

/// The change from `from` to `to` that `role` may make, or why not.
pub fn transition(
    from: NeuronStatus,
    to: NeuronStatus,
    role: Role,
) -> Result<&'static Transition, TransitionError> {
    if !SETTABLE.contains(&to) {
        return Err(TransitionError::NotSettable(to));
    }
    if from == to {
        return Err(TransitionError::Unchanged(to));
    }
    let Some(found) = TRANSITIONS.iter().find(|x| x.from == from && x.to == to) else {
        let hint = if from == Pending {
            ": approve it (admin) or remove it to deny it"
        } else {
            ""
        };
        return Err(TransitionError::NotAllowed { from, to, hint });
    };
    if !role.allows(found.role) {
        return Err(TransitionError::Role {
            from,
            to,
            action: found.action,
            needed: found.role,
            have: role,
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What every (from, to, role) cell must answer: `Some(action)` when allowed.
    fn expected(from: NeuronStatus, to: NeuronStatus, role: Role) -> Option<&'static str> {
        let admin = role == Role::Admin;
        let operator = role.allows(Role::Operator);
        match (from, to) {
            (Pending, Active) if admin => Some("neuron.approve"),
            (Retired, Active) if admin => Some("neuron.reactivate"),
            (Draining | Degraded | Unhealthy, Active) if operator => Some("neuron.reactivate"),
            (Active | Degraded | Unhealthy, Draining) if operator => Some("neuron.drain"),
            (Active | Degraded | Unhealthy | Draining, Retired) if operator => {
                Some("neuron.retire")
            }
            _ => None,
        }
    }

    #[test]
    fn every_from_to_role_cell_is_decided_by_the_table() {
        let mut allowed = 0;
        for from in NeuronStatus::ALL {
            for to in NeuronStatus::ALL {
                for role in Role::ALL {
                    let got = transition(from, to, role).map(|t| t.action).ok();
                    assert_eq!(got, expected(from, to, role), "{from} -> {to} as {role}");
                    allowed += usize::from(got.is_some());
                }
            }
        }
        // 6 x 6 x 4 cells; the admin-only pair appears once, the rest for three roles.
        assert_eq!(allowed, 2 + 10 * 3);
    }

    #[test]
    fn no_path_leads_from_pending_to_joined_without_an_admin() {
        // Every status reachable from pending by an operator's changes, however many.
        let mut reached = vec![Pending];
        let mut i = 0;
        while i < reached.len() {
            for to in NeuronStatus::ALL {
                if transition(reached[i], to, Role::Operator).is_ok() && !reached.contains(&to) {
                    reached.push(to);
                }
            }
            i += 1;
        }
        assert_eq!(
            reached,
            vec![Pending],
            "an operator moves a pending neuron nowhere"
        );
    }

    #[test]
    fn refusals_say_why() {
        assert!(matches!(
            transition(Active, Unhealthy, Role::Admin),
            Err(TransitionError::NotSettable(Unhealthy))
        ));
        assert!(matches!(
            transition(Active, Active, Role::Admin),
            Err(TransitionError::Unchanged(Active))
        ));
        let e = transition(Pending, Retired, Role::Admin).unwrap_err();
        assert!(e.to_string().contains("remove it"), "{e}");
        let e = transition(Pending, Active, Role::Operator).unwrap_err();
        assert!(e.to_string().contains("needs the `admin` role"), "{e}");
    }
}
