//! Exit codes, the same for every command (SPEC section 2).

/// What a command ended with. The numbers are a public contract for CI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// Success; for plan: nothing refused (and, with `--detailed-exitcode`,
    /// nothing to do).
    Success,
    /// The command could not do its work (bad file, network, auth, I/O).
    Error,
    /// `plan --detailed-exitcode` only: success, changes pending.
    Changes,
    /// The plan breaks a rule; `apply` then changes nothing at all.
    Refused,
}

impl ExitStatus {
    /// What `plan` ends with: refused, else with `--detailed-exitcode` and
    /// changes pending `Changes`, else success.
    pub fn of_plan(refused: bool, changes_pending: bool, detailed_exitcode: bool) -> Self {
        if refused {
            ExitStatus::Refused
        } else if detailed_exitcode && changes_pending {
            ExitStatus::Changes
        } else {
            ExitStatus::Success
        }
    }

    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Error => 1,
            ExitStatus::Changes => 2,
            ExitStatus::Refused => 3,
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::ExitStatus;

    #[test]
    fn codes_match_the_spec() {
        assert_eq!(ExitStatus::Success.code(), 0);
        assert_eq!(ExitStatus::Error.code(), 1);
        assert_eq!(ExitStatus::Changes.code(), 2);
        assert_eq!(ExitStatus::Refused.code(), 3);
    }

    #[test]
    fn a_plan_exits_3_when_refused_and_2_only_for_detailed_changes() {
        for (refused, changes, detailed, code) in [
            (true, true, true, 3),
            (true, false, false, 3),
            (false, true, true, 2),
            (false, true, false, 0),
            (false, false, true, 0),
            (false, false, false, 0),
        ] {
            let status = ExitStatus::of_plan(refused, changes, detailed);
            assert_eq!(status.code(), code, "{refused} {changes} {detailed}");
        }
    }
}
