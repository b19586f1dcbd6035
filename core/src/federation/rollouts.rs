//! Deploying a release: moving the neurons of a kind (all of them, a tag's, or one) to a
//! described release, staged like a push (a percentage or tags first, then the rest), with
//! pause, resume and abort; the `update` order a neuron receives; and what each neuron says
//! about its update (the steps it ran, how they ended).
//!
//! Browser neurons cannot update themselves: they are counted (once they report the version)
//! and never sent an order.

use super::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a rollout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum RolloutState {
    /// Orders go to the neurons of the current stage as they connect.
    Running,
    /// No new orders; updates already under way finish.
    Paused,
    /// Stopped for good; no new orders.
    Aborted,
    /// Every neuron it targets runs the release.
    Done,
}

impl RolloutState {
    pub const ALL: [RolloutState; 4] = [
        RolloutState::Running,
        RolloutState::Paused,
        RolloutState::Aborted,
        RolloutState::Done,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RolloutState::Running => "running",
            RolloutState::Paused => "paused",
            RolloutState::Aborted => "aborted",
            RolloutState::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Running or paused: the kind's one rollout that may still send orders.
    pub fn is_active(self) -> bool {
        matches!(self, RolloutState::Running | RolloutState::Paused)
    }
}

/// What an operator can do to a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum RolloutAction {
    Pause,
    Resume,
    Abort,
}

impl RolloutAction {
    pub const ALL: [RolloutAction; 3] = [
        RolloutAction::Pause,
        RolloutAction::Resume,
        RolloutAction::Abort,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RolloutAction::Pause => "pause",
            RolloutAction::Resume => "resume",
            RolloutAction::Abort => "abort",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The state it leads to from `from`, or why it cannot be taken.
    pub fn apply(self, from: RolloutState) -> Result<RolloutState, String> {
        match (self, from) {
            (RolloutAction::Pause, RolloutState::Running) => Ok(RolloutState::Paused),
            (RolloutAction::Resume, RolloutState::Paused) => Ok(RolloutState::Running),
            (RolloutAction::Abort, s) if s.is_active() => Ok(RolloutState::Aborted),
            (a, s) => Err(format!("a {} rollout cannot be {}", s.as_str(), a.past())),
        }
    }

    /// How it reads once done: `paused`, `resumed`, `aborted`.
    pub fn past(self) -> &'static str {
        match self {
            RolloutAction::Pause => "paused",
            RolloutAction::Resume => "resumed",
            RolloutAction::Abort => "aborted",
        }
    }
}

/// Moving neurons of one kind to one of its releases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    pub id: String,
    pub kind: String,
    /// The release's version.
    pub version: String,
    /// The version to go back to if it makes things worse: the kind's expected release when
    /// it started, or else the version most of its neurons ran (when described).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// Which neurons of the kind: `global` (all), `tag:<tag>` or `neuron:<id>`.
    pub scope: Scope,
    /// The current stage: who in the scope gets the order now.
    pub audience: Audience,
    pub state: RolloutState,
    /// Why it was last paused, aborted or finished (empty while it runs as started).
    #[serde(default)]
    pub reason: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Rollout {
    /// Whether this rollout is meant for `n`, whatever its stage: of the kind, joined, in
    /// the scope.
    pub fn targets(&self, n: &Neuron) -> bool {
        n.kind == self.kind && n.status.is_joined() && self.scope.covers(&n.id, &n.tags)
    }

    /// Whether `n` is in the current stage.
    pub fn in_stage(&self, n: &Neuron) -> bool {
        self.targets(n) && self.audience.includes(&self.bucket_scope(), &n.id, &n.tags)
    }

    /// A neuron's bucket depends on the rollout and its id, so widening a stage keeps
    /// everyone already in, and two rollouts do not always start with the same neurons.
    fn bucket_scope(&self) -> Scope {
        Scope::Tag(format!("rollout-{}", self.id))
    }

    /// The neurons to send the order to now: the rollout runs, the neuron is in the stage, a
    /// server neuron, not on the release yet, and has not been sent this rollout's order.
    pub fn due<'a>(&self, neurons: &'a [Neuron], updates: &[NeuronUpdate]) -> Vec<&'a Neuron> {
        if self.state != RolloutState::Running {
            return Vec::new();
        }
        neurons
            .iter()
            .filter(|n| {
                self.in_stage(n)
                    && !n.is_browser()
                    && n.version != self.version
                    && !updates.iter().any(|u| u.neuron_id == n.id)
            })
            .collect()
    }

    /// How far it has come.
    pub fn progress(&self, neurons: &[Neuron], updates: &[NeuronUpdate]) -> RolloutProgress {
        let mut p = RolloutProgress::default();
        for n in neurons.iter().filter(|n| self.targets(n)) {
            p.targeted += 1;
            if self.in_stage(n) {
                p.in_stage += 1;
            }
            let update = updates.iter().find(|u| u.neuron_id == n.id);
            let on_it = n.version == self.version;
            if n.is_browser() {
                if on_it {
                    p.updated += 1;
                } else {
                    p.counted_only += 1;
                }
                continue;
            }
            match (on_it, update.map(|u| u.state)) {
                (_, Some(UpdateState::Failed)) => p.failed += 1,
                // On the version and its update done (or it came with the version).
                (true, None | Some(UpdateState::Done)) => p.updated += 1,
                // Switched but its post-migrations still run; or done but still reporting
                // the old version (its next heartbeat says more).
                (_, Some(UpdateState::Sent | UpdateState::Running))
                | (false, Some(UpdateState::Done)) => p.updating += 1,
                (false, None) if self.in_stage(n) => p.waiting += 1,
                (false, None) => p.outside_stage += 1,
            }
        }
        p
    }

    /// Whether it is finished: the stage is everyone and every server neuron it targets runs
    /// the release (browser neurons are counted, never waited for).
    pub fn is_complete(&self, progress: &RolloutProgress) -> bool {
        self.audience.is_everyone()
            && progress.targeted > 0
            && progress.updated + progress.counted_only == progress.targeted
    }

    /// The order sent to each neuron.
    pub fn order(&self, release: &Release) -> UpdateOrder {
        UpdateOrder {
            id: self.id.clone(),
            version: release.version.clone(),
            bundle: release.bundle.clone(),
            pre_migrations: release.pre_migrations.clone(),
            post_migrations: release.post_migrations.clone(),
        }
    }
}

/// A rollout's counts: neurons it targets, in the current stage, running the release, with
/// an update under way, failed, in the stage but not yet sent the order (they get it as they
/// connect), not in the stage yet, and browser neurons that are counted but never commanded
/// (still on another version).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RolloutProgress {
    pub targeted: u64,
    pub in_stage: u64,
    pub updated: u64,
    pub updating: u64,
    pub failed: u64,
    pub waiting: u64,
    pub outside_stage: u64,
    pub counted_only: u64,
}

/// What an operator sends to start a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RolloutForCreate {
    pub kind: String,
    pub version: String,
    /// `global` (every neuron of the kind, the default), `tag:<tag>` or `neuron:<id>`.
    #[serde(default)]
    pub scope: Option<Scope>,
    /// The first stage (none: everyone in the scope at once).
    #[serde(default)]
    pub audience: Audience,
}

impl RolloutForCreate {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_name("kind", &self.kind)?;
        check_display_text("version", &self.version)?;
        if self.audience.percent.is_some_and(|p| p == 0 || p > 100) {
            return Err(FieldError::new(
                "audience.percent",
                "a whole number from 1 to 100",
            ));
        }
        if self.audience.tags.len() > 32 {
            return Err(FieldError::new("audience.tags", "at most 32 tags"));
        }
        for (i, t) in self.audience.tags.iter().enumerate() {
            check_name(&format!("audience.tags[{i}]"), t)?;
        }
        Ok(())
    }
}

/// Where one neuron's update is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum UpdateState {
    /// The order was sent; no word yet.
    Sent,
    Running,
    Done,
    Failed,
}

impl UpdateState {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateState::Sent => "sent",
            UpdateState::Running => "running",
            UpdateState::Done => "done",
            UpdateState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Sent, Self::Running, Self::Done, Self::Failed]
            .into_iter()
            .find(|x| x.as_str() == s)
    }

    /// Done or failed: nothing more will come.
    pub fn is_final(self) -> bool {
        matches!(self, UpdateState::Done | UpdateState::Failed)
    }
}

/// One neuron's update in a rollout, as it last reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NeuronUpdate {
    pub rollout_id: String,
    pub neuron_id: String,
    pub state: UpdateState,
    /// The step it is at or stopped at: `pre <migration>`, `switch`, `post <migration>`.
    #[serde(default)]
    pub step: String,
    /// Why it failed, or the end of the step's output.
    #[serde(default)]
    pub message: String,
    pub at: DateTime<Utc>,
}

/// Most characters kept of an update's step name and of its message.
pub const MAX_UPDATE_STEP: usize = 200;

impl NeuronUpdate {
    /// Bounds what a neuron sent: the step is cut to [`MAX_UPDATE_STEP`] characters and the
    /// message to the output tail's 4 KiB; characters that could disguise text are replaced.
    pub fn tidy(mut self) -> Self {
        self.step = self
            .step
            .chars()
            .take(MAX_UPDATE_STEP)
            .map(|c| {
                if c.is_control() || is_text_direction(c) {
                    '\u{fffd}'
                } else {
                    c
                }
            })
            .collect();
        self.message = output_tail(&self.message);
        self
    }
}

/// Hub → neuron: run this release's update (the id is the rollout's; answer with
/// `updateStatus` and the same id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UpdateOrder {
    pub id: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<BundleRef>,
    #[serde(default)]
    pub pre_migrations: Vec<String>,
    #[serde(default)]
    pub post_migrations: Vec<String>,
}

/// A rollout with its counts and each neuron's update, for the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RolloutView {
    pub rollout: Rollout,
    pub progress: RolloutProgress,
    pub updates: Vec<NeuronUpdate>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neuron(id: &str, kind: &str, version: &str, tags: &[&str]) -> Neuron {
        Neuron {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            ..test_neuron(id, kind, version)
        }
    }

    fn rollout(audience: Audience) -> Rollout {
        let now = DateTime::from_timestamp(1_780_000_000, 0).unwrap_or_default();
        Rollout {
            id: "r1".into(),
            kind: "shop".into(),
            version: "2.0".into(),
            previous: Some("1.0".into()),
            scope: Scope::Global,
            audience,
            state: RolloutState::Running,
            reason: String::new(),
            created_by: "user:op".into(),
            created_at: now,
            updated_at: now,
        }
    }

    fn update(neuron: &str, state: UpdateState) -> NeuronUpdate {
        NeuronUpdate {
            rollout_id: "r1".into(),
            neuron_id: neuron.into(),
            state,
            step: String::new(),
            message: String::new(),
            at: DateTime::from_timestamp(1_780_000_000, 0).unwrap_or_default(),
        }
    }

    #[test]
    fn due_skips_other_kinds_browsers_the_updated_and_those_already_sent() {
        let mut browser = neuron("b", "shop", "1.0", &[]);
        browser.public_key = "pk_live".into();
        let mut pending = neuron("p", "shop", "1.0", &[]);
        pending.status = NeuronStatus::Pending;
        let fleet = vec![
            neuron("a", "shop", "1.0", &[]),
            neuron("c", "shop", "2.0", &[]),
            neuron("d", "search", "1.0", &[]),
            neuron("e", "shop", "1.0", &[]),
            browser,
            pending,
        ];
        let r = rollout(Audience::default());
        let due: Vec<_> = r
            .due(&fleet, &[update("e", UpdateState::Sent)])
            .iter()
            .map(|n| n.id.to_string())
            .collect();
        assert_eq!(due, ["a"]);
        let p = r.progress(&fleet, &[update("e", UpdateState::Sent)]);
        assert_eq!(
            (p.targeted, p.updated, p.updating, p.waiting, p.counted_only),
            (4, 1, 1, 1, 1)
        );
        assert!(!r.is_complete(&p));
        let paused = Rollout {
            state: RolloutState::Paused,
            ..r
        };
        assert!(paused.due(&fleet, &[]).is_empty());
    }

    #[test]
    fn a_stage_takes_tags_and_a_share_and_widening_keeps_who_was_in() {
        let fleet: Vec<_> = (0..200)
            .map(|i| {
                neuron(
                    &format!("n{i}"),
                    "shop",
                    "1.0",
                    if i == 7 { &["canary"] } else { &[] },
                )
            })
            .collect();
        let stage = |percent| {
            rollout(Audience {
                percent,
                tags: vec!["canary".into()],
            })
        };
        let ten: Vec<_> = stage(Some(10))
            .due(&fleet, &[])
            .iter()
            .map(|n| n.id.clone())
            .collect();
        let fifty: Vec<_> = stage(Some(50))
            .due(&fleet, &[])
            .iter()
            .map(|n| n.id.clone())
            .collect();
        assert!(
            ten.iter().any(|id| id.as_str() == "n7"),
            "tagged neurons come first"
        );
        assert!(
            (8..=40).contains(&ten.len()),
            "about 10 % of 200: {}",
            ten.len()
        );
        assert!(ten.iter().all(|id| fifty.contains(id)));
        assert!(fifty.len() > ten.len());
    }

    #[test]
    fn complete_when_everyone_in_scope_runs_it_and_browsers_are_only_counted() {
        let mut browser = neuron("b", "shop", "1.0", &[]);
        browser.public_key = "pk_live".into();
        let fleet = vec![neuron("a", "shop", "2.0", &[]), browser];
        let r = rollout(Audience::default());
        let p = r.progress(&fleet, &[]);
        assert!(r.is_complete(&p));
        let staged = rollout(Audience {
            percent: Some(50),
            tags: vec![],
        });
        assert!(!staged.is_complete(&staged.progress(&fleet, &[])));
        // One neuron: only it is targeted.
        let one = Rollout {
            scope: Scope::Neuron("a".into()),
            ..r
        };
        assert_eq!(one.progress(&fleet, &[]).targeted, 1);
    }

    #[test]
    fn actions_follow_the_states() {
        use RolloutAction::*;
        use RolloutState::*;
        assert_eq!(Pause.apply(Running), Ok(Paused));
        assert_eq!(Resume.apply(Paused), Ok(Running));
        assert_eq!(Abort.apply(Paused), Ok(Aborted));
        assert!(Resume.apply(Running).is_err());
        assert!(Pause.apply(Done).is_err());
        assert!(Abort.apply(Aborted).is_err());
    }

    #[test]
    fn what_a_neuron_reports_is_bounded() {
        let u = NeuronUpdate {
            step: format!("pre \u{202e}{}", "x".repeat(500)),
            message: "y".repeat(10_000),
            ..update("a", UpdateState::Failed)
        }
        .tidy();
        assert_eq!(u.step.chars().count(), MAX_UPDATE_STEP);
        assert!(!u.step.contains('\u{202e}'));
        assert!(u.message.len() <= 4096 + 8);
    }

    #[test]
    fn a_create_is_checked() {
        let ok = RolloutForCreate {
            kind: "shop".into(),
            version: "2.0".into(),
            scope: None,
            audience: Audience::default(),
        };
        assert!(ok.validate().is_ok());
        let bad_tag = RolloutForCreate {
            audience: Audience {
                percent: None,
                tags: vec!["no spaces".into()],
            },
            ..ok.clone()
        };
        assert!(bad_tag.validate().is_err());
        let zero = RolloutForCreate {
            audience: Audience {
                percent: Some(0),
                tags: vec![],
            },
            ..ok
        };
        assert_eq!(zero.validate().unwrap_err().field, "audience.percent");
    }
}
