//! Where expressions compute: on the async thread that runs the step while
//! they are quick, on a bounded lane of their own once they are not.
//!
//! Almost every expression reads a few fields and finishes in a microsecond,
//! and moving it to another thread would cost more than it does. A hostile or
//! careless one (a loop up to its deadline) would hold an I/O thread for a
//! second, and a handful of them at once would stop the server answering
//! anything. So an evaluation starts inline with a small budget of
//! operations and of time; past either, it is stopped and started again from the beginning
//! on the compute lane, a few threads' worth of permits beside the I/O
//! threads, where it has its full limits. Expressions have no effects
//! (`context`, `steps`, `vars` and loop variables are read-only to them), so
//! running one again from its start gives the result the first attempt would
//! have given.
//!
//! A run also has a budget of expression time in all ([`RunBudget`]), so that
//! a loop of many expressions, each under its own deadline, cannot compute
//! for ever.

use std::cell::Cell;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::{EvalError, Evaluator};

/// The compute lane's permits: as many slow expressions may compute at once
/// as there are cores but one, leaving that one to the I/O threads.
pub(crate) fn new_lane() -> Semaphore {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Semaphore::new(cores.saturating_sub(1).max(1))
}

/// The expression time one run may still spend.
#[derive(Clone, Debug)]
pub struct RunBudget {
    limit: Duration,
    used: Duration,
}

impl RunBudget {
    pub fn new(limit: Duration) -> RunBudget {
        RunBudget {
            limit,
            used: Duration::ZERO,
        }
    }

    pub fn used(&self) -> Duration {
        self.used
    }

    fn remaining(&self) -> Duration {
        self.limit.saturating_sub(self.used)
    }
}

/// What the evaluations running on this thread may spend; set by
/// [`Evaluator::compute`] around its work.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Allowance {
    /// When the run's budget of expression time runs out.
    pub run_deadline: Option<Instant>,
    /// When the work runs inline, on an I/O thread: when it must give up
    /// its thread, whatever its count of operations (one operation of a
    /// builtin on a large string can take far longer than most).
    pub inline_until: Option<Instant>,
}

thread_local! {
    // Evaluation is synchronous, so a thread-local is exactly as wide as one
    // piece of `compute` work; the progress hook reads it to know when work
    // must leave its thread or the run's budget is spent.
    pub(crate) static ALLOWANCE: Cell<Allowance> = Cell::new(Allowance::default());
}

/// How long work may compute inline before it moves to the compute lane.
const INLINE_TIME: Duration = Duration::from_millis(1);

impl Evaluator {
    /// Runs `work` (one or more evaluations against the run's scope) within
    /// the run's `budget`: inline while it is quick, again from its start on
    /// the compute lane when it is not (see the module's documentation).
    pub async fn compute<R>(
        &self,
        budget: &mut RunBudget,
        mut work: impl FnMut(&Evaluator) -> Result<R, EvalError> + Send,
    ) -> Result<R, EvalError> {
        let first = self.spend(budget, true, &mut work);
        match first {
            Err(e) if e.moved => {}
            other => return other,
        }
        // A current-thread runtime (a unit test, a tool) has no I/O threads
        // to protect, and cannot hand its thread over.
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if !multi_thread {
            return self.spend(budget, false, &mut work);
        }
        let _permit = self
            .lane
            .acquire()
            .await
            .map_err(|_| EvalError::limit("the server is shutting down".into()))?;
        tokio::task::block_in_place(|| self.spend(budget, false, &mut work))
    }

    fn spend<R>(
        &self,
        budget: &mut RunBudget,
        inline: bool,
        work: &mut impl FnMut(&Evaluator) -> Result<R, EvalError>,
    ) -> Result<R, EvalError> {
        let remaining = budget.remaining();
        if remaining.is_zero() {
            return Err(self.run_budget_spent());
        }
        let started = Instant::now();
        let allowance = Allowance {
            run_deadline: Some(started + remaining),
            inline_until: inline.then(|| started + INLINE_TIME),
        };
        let previous = ALLOWANCE.with(|a| a.replace(allowance));
        let result = work(self);
        ALLOWANCE.with(|a| a.set(previous));
        budget.used += started.elapsed();
        result
    }

    pub(crate) fn run_budget_spent(&self) -> EvalError {
        EvalError::limit(format!(
            "the run spent its budget of {} ms of expression time and was stopped",
            self.limits().run_budget.as_millis()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExprLimits;
    use rhai::Scope;

    /// Computes `source` on a multi-threaded runtime, as the server does:
    /// its result, how often the work ran, and the budget after it.
    fn counted(source: &str) -> (Result<i64, EvalError>, u32, RunBudget) {
        let evaluator = Evaluator::new(ExprLimits::default());
        let expr = evaluator.compile(source, &[]).unwrap();
        let mut budget = RunBudget::new(Duration::from_secs(5));
        let mut attempts = 0;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        runtime.block_on(async {
            let handle = tokio::spawn(async move {
                let mut scope = Scope::new();
                let result = evaluator
                    .compute(&mut budget, |evaluator| {
                        attempts += 1;
                        evaluator
                            .eval(&expr, &mut scope)
                            .map(|v| v.as_int().unwrap_or(-1))
                    })
                    .await;
                (result, attempts, budget)
            });
            handle.await.unwrap()
        })
    }

    #[test]
    fn quick_work_runs_once_inline() {
        let (result, attempts, budget) = counted("6 * 7");
        assert_eq!(result, Ok(42));
        assert_eq!(attempts, 1);
        assert!(budget.used() > Duration::ZERO);
    }

    #[test]
    fn slow_work_runs_again_from_its_start_on_the_lane() {
        let (result, attempts, _) = counted("let n = 0; for i in 0..100000 { n += 1 } n");
        assert_eq!(result, Ok(100_000));
        assert_eq!(attempts, 2);
    }

    #[test]
    fn a_spent_run_budget_stops_the_work() {
        let evaluator = Evaluator::new(ExprLimits::default());
        let expr = evaluator.compile("1", &[]).unwrap();
        let mut budget = RunBudget::new(Duration::ZERO);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let result = runtime.block_on(evaluator.compute(&mut budget, |evaluator| {
            evaluator.eval(&expr, &mut Scope::new())
        }));
        let e = result.unwrap_err();
        assert!(e.limit && e.message.contains("budget"), "{}", e.message);
    }
}
