//! The pattern automaton, built and run as Flink's CEP library builds and runs it
//! (`NFACompiler`, `NFA`, the `aftermatch` strategies; engine/docs/flink-semantics.md,
//! sections 3.4 to 3.8), restricted to what MATCH_RECOGNIZE asks of it: strict contiguity,
//! so no state ever ignores a row.
//!
//! A pattern becomes states joined by TAKE edges (the row is mapped to the state's variable)
//! and PROCEED edges (move on without consuming the row), built from the last element back
//! to the first. A partial match (a "computation") rests in a state; each row it sees is
//! offered along every edge whose condition holds, following PROCEED edges first, so one
//! partial match can branch into several and a row can start a new one. Nothing
//! backtracks. Greedy loops put "and not the loop's own condition" on every edge leaving
//! the state after the loop, which is Flink's meaning of greedy.
//!
//! Because no edge ignores a row, a partial match holds every row of the partition from
//! its first one on: it is its first row's sequence number and one variable per row.

use serde::{Deserialize, Serialize};

use super::heap::{HeapKey, JavaHeap};

/// A pattern variable, by its place in the pattern's list of variables.
pub type VarId = u8;
pub type StateId = u32;

/// When an edge may be followed: the base condition, and none of the `unless` variables'
/// conditions (what greedy loops before the edge's state add).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// `None` is TRUE; `Some(v)` is v's DEFINE (TRUE when v has none).
    pub base: Option<VarId>,
    pub unless: Vec<VarId>,
}

impl Condition {
    pub const TRUE: Condition = Condition {
        base: None,
        unless: Vec::new(),
    };

    fn define(var: VarId) -> Condition {
        Condition {
            base: Some(var),
            unless: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Take,
    Proceed,
}

#[derive(Debug, Clone)]
pub struct Transition {
    pub action: Action,
    pub target: StateId,
    pub condition: Condition,
}

#[derive(Debug, Clone)]
pub struct State {
    /// The variable a row taken from this state is mapped to; `None` for the final state
    /// and for branch states that only proceed.
    pub var: Option<VarId>,
    pub is_final: bool,
    pub transitions: Vec<Transition>,
}

/// How a pattern element repeats, in Flink CEP's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeat {
    pub min: u32,
    /// `None`: unbounded.
    pub max: Option<u32>,
    /// Flink's greedy: set only on loops and ranges (`+`, `*`, `{n,}`, `{n,m}` with n < m),
    /// never on `?` or `{n}`.
    pub greedy: bool,
}

impl Repeat {
    pub fn is_greedy(&self) -> bool {
        self.greedy && !(self.min == 0 && self.max == Some(1)) && Some(self.min) != self.max
    }
}

/// A pattern as a tree of elements.
#[derive(Debug, Clone, PartialEq)]
pub enum Element {
    Variable { var: VarId, repeat: Repeat },
    Sequence(Vec<Element>),
    Alternation(Vec<Element>),
    Group { inner: Box<Element>, repeat: Repeat },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    PastLastRow,
    ToNextRow,
    ToFirst(VarId),
    ToLast(VarId),
}

/// Why AFTER MATCH SKIP TO FIRST/LAST could not skip; Flink fails the job here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipError {
    /// The match has no row for the variable.
    NoRow(VarId),
    /// The row to skip to is the match's first row: skipping to it would find the same
    /// match again.
    FirstRow(VarId),
}

#[derive(Debug, Clone)]
pub struct Nfa {
    pub states: Vec<State>,
    pub start: StateId,
    /// WITHIN, in milliseconds.
    pub within: Option<i64>,
    pub skip: Skip,
}

/// A partial or completed match: where it rests, its first row, and the variable each of
/// its rows was mapped to (they are the partition's rows from `start` on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Computation {
    pub state: StateId,
    /// The sequence number of its first row; `None` for the computation that waits in the
    /// start state for a row to begin a match.
    pub start: Option<u64>,
    pub start_time: i64,
    pub vars: Vec<VarId>,
}

impl Computation {
    pub fn last(&self) -> Option<u64> {
        self.start
            .map(|start| start + self.vars.len() as u64 - u64::from(!self.vars.is_empty()))
    }
}

impl crate::heap::HeapBytes for Computation {
    fn heap_bytes(&self) -> usize {
        self.vars.heap_bytes()
    }
}

impl crate::heap::HeapBytes for NfaState {
    fn heap_bytes(&self) -> usize {
        self.partial.heap_bytes() + self.completed.heap_bytes()
    }
}

impl HeapKey for Computation {
    /// Flink's COMPUTATION_STATE_COMPARATOR: by the first row (its time, then its place
    /// among the rows of that time, which the sequence number already orders), the start
    /// state last.
    fn heap_key(&self) -> u64 {
        self.start.unwrap_or(u64::MAX)
    }
}

/// One partition's automaton state: Flink's NFAState.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NfaState {
    pub partial: JavaHeap<Computation>,
    /// Completed matches waiting for an earlier-started partial match to finish.
    pub completed: JavaHeap<Computation>,
}

/// What happened to a completed match when it left the queue.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Matched(Computation),
    SkipFailed(Computation, SkipError),
}

/// The conditions, evaluated for the row being fed in the context of a partial match.
pub trait Conditions {
    fn holds(&mut self, var: VarId, context: &Computation) -> bool;
}

impl Nfa {
    pub fn initial_state(&self) -> NfaState {
        let mut partial = JavaHeap::new();
        partial.offer(self.start_computation());
        NfaState {
            partial,
            completed: JavaHeap::new(),
        }
    }

    fn start_computation(&self) -> Computation {
        Computation {
            state: self.start,
            start: None,
            start_time: 0,
            vars: Vec::new(),
        }
    }

    fn state(&self, id: StateId) -> &State {
        &self.states[id as usize]
    }

    /// True when the state holds nothing but the computation waiting to start.
    pub fn is_idle(state: &NfaState) -> bool {
        state.completed.is_empty() && state.partial.iter().all(|c| c.start.is_none())
    }

    /// The earliest time a partial match of `state` times out (WITHIN). Between rows only a
    /// timeout changes what a partition holds or may release, so this is when it next needs
    /// the watermark; `None` when nothing can time out.
    pub fn next_timeout(&self, state: &NfaState) -> Option<i64> {
        let within = self.within.filter(|w| *w > 0)?;
        state
            .partial
            .iter()
            .filter(|c| c.start.is_some())
            .map(|c| c.start_time.saturating_add(within))
            .min()
    }

    fn holds(
        &self,
        condition: &Condition,
        context: &Computation,
        eval: &mut dyn Conditions,
    ) -> bool {
        if let Some(var) = condition.base {
            if !eval.holds(var, context) {
                return false;
            }
        }
        condition
            .unless
            .iter()
            .all(|&var| !eval.holds(var, context))
    }

    /// Feeds one row (`seq`, at `time`) to every partial match: NFA.doProcess. Matches that
    /// may leave the queue are appended to `out` in the order Flink emits them.
    pub fn process(
        &self,
        state: &mut NfaState,
        seq: u64,
        time: i64,
        eval: &mut dyn Conditions,
        out: &mut Vec<Outcome>,
    ) {
        let mut partial = JavaHeap::new();
        let mut potential = JavaHeap::new();
        let mut next = Vec::new();
        for computation in state.partial.iter() {
            next.clear();
            self.next_states(computation, seq, time, eval, &mut next);
            for computation in next.drain(..) {
                if self.state(computation.state).is_final {
                    potential.offer(computation);
                } else {
                    partial.offer(computation);
                }
            }
        }
        self.release_matches(state, potential, &mut partial, out);
        state.partial = partial;
    }

    /// Stream time has reached `time`: partial matches that cannot finish WITHIN are
    /// dropped, which may let waiting matches go (NFA.advanceTime).
    pub fn advance_time(&self, state: &mut NfaState, time: i64, out: &mut Vec<Outcome>) {
        let mut partial = JavaHeap::new();
        let old = std::mem::take(&mut state.partial);
        for computation in old.into_items() {
            let timed_out = self.within.is_some_and(|within| {
                within > 0
                    && computation.start.is_some()
                    && time.saturating_sub(computation.start_time) >= within
            });
            if !timed_out {
                partial.offer(computation);
            }
        }
        self.release_matches(state, JavaHeap::new(), &mut partial, out);
        state.partial = partial;
    }

    /// processMatchesAccordingToSkipStrategy: completed matches leave in order of their
    /// first row, each only while no partial match started before it, and each prunes what
    /// the skip strategy says.
    fn release_matches(
        &self,
        state: &mut NfaState,
        potential: JavaHeap<Computation>,
        partial: &mut JavaHeap<Computation>,
        out: &mut Vec<Outcome>,
    ) {
        state.completed.add_all(potential.into_items());
        while let Some(earliest) = state.completed.peek() {
            if let Some(waiting) = partial.peek() {
                if earliest.heap_key() > waiting.heap_key() {
                    break;
                }
            }
            let Some(found) = state.completed.poll() else {
                break;
            };
            match self.pruning_row(&found) {
                Ok(pruning) => {
                    self.prune(partial, pruning);
                    self.prune(&mut state.completed, pruning);
                    out.push(Outcome::Matched(found));
                }
                Err(error) => {
                    // Flink fails the job here. The engine drops this match instead and
                    // goes on as SKIP TO NEXT ROW would, so that the same rows cannot match
                    // again and again.
                    if let Some(first) = found.start {
                        partial.remove_all(|c| c.start.is_some_and(|s| s <= first));
                        state
                            .completed
                            .remove_all(|c| c.start.is_some_and(|s| s <= first));
                    }
                    out.push(Outcome::SkipFailed(found, error));
                }
            }
        }
    }

    /// The row the skip strategy prunes from (its getPruningId), and whether matches
    /// starting at it are pruned too.
    fn pruning_row(&self, found: &Computation) -> Result<(u64, bool), SkipError> {
        let (Some(first), Some(last)) = (found.start, found.last()) else {
            return Ok((0, false));
        };
        let rows_of = |var: VarId| {
            found
                .vars
                .iter()
                .enumerate()
                .filter(move |(_, v)| **v == var)
                .map(move |(at, _)| first + at as u64)
        };
        match self.skip {
            Skip::PastLastRow => Ok((last, true)),
            Skip::ToNextRow => Ok((first, true)),
            Skip::ToFirst(var) | Skip::ToLast(var) => {
                let row = if matches!(self.skip, Skip::ToFirst(_)) {
                    rows_of(var).next()
                } else {
                    rows_of(var).next_back()
                };
                match row {
                    None => Err(SkipError::NoRow(var)),
                    Some(row) if row == first => Err(SkipError::FirstRow(var)),
                    Some(row) => Ok((row, false)),
                }
            }
        }
    }

    fn prune(&self, heap: &mut JavaHeap<Computation>, (row, inclusive): (u64, bool)) {
        heap.remove_all(|c| {
            c.start
                .is_some_and(|start| if inclusive { start <= row } else { start < row })
        });
    }

    /// NFA.computeNextStates for strict contiguity: the row is taken along every TAKE
    /// edge reachable through PROCEED edges whose conditions hold; a taken row that can
    /// proceed to the final state also completes a match; the start state stays.
    fn next_states(
        &self,
        computation: &Computation,
        seq: u64,
        time: i64,
        eval: &mut dyn Conditions,
        out: &mut Vec<Computation>,
    ) {
        let mut edges: Vec<(StateId, StateId)> = Vec::new();
        let mut stack = vec![computation.state];
        while let Some(at) = stack.pop() {
            for transition in &self.state(at).transitions {
                if !self.holds(&transition.condition, computation, eval) {
                    continue;
                }
                match transition.action {
                    Action::Proceed => stack.push(transition.target),
                    Action::Take => edges.push((at, transition.target)),
                }
            }
        }
        let starting = computation.start.is_none();
        for (source, target) in edges {
            let Some(var) = self.state(source).var else {
                continue;
            };
            let mut vars = Vec::with_capacity(computation.vars.len() + 1);
            vars.extend_from_slice(&computation.vars);
            vars.push(var);
            let taken = Computation {
                state: target,
                start: Some(computation.start.unwrap_or(seq)),
                start_time: if starting {
                    time
                } else {
                    computation.start_time
                },
                vars,
            };
            let completes = self.final_after_proceed(target, computation, eval);
            if let Some(done) = completes {
                let finished = Computation {
                    state: done,
                    ..taken.clone()
                };
                out.push(taken);
                out.push(finished);
            } else {
                out.push(taken);
            }
        }
        if starting {
            out.push(self.start_computation());
        }
    }

    /// findFinalStateAfterProceed: a final state reachable from `from` through PROCEED
    /// edges whose conditions hold (judged, as in Flink, in the context of the partial
    /// match before it took the row).
    fn final_after_proceed(
        &self,
        from: StateId,
        context: &Computation,
        eval: &mut dyn Conditions,
    ) -> Option<StateId> {
        let mut stack = vec![from];
        while let Some(at) = stack.pop() {
            for transition in &self.state(at).transitions {
                if transition.action == Action::Proceed
                    && self.holds(&transition.condition, context, eval)
                {
                    if self.state(transition.target).is_final {
                        return Some(transition.target);
                    }
                    stack.push(transition.target);
                }
            }
        }
        None
    }

    /// True when the start state reaches the final state through PROCEED edges alone: the
    /// pattern could match no row (Flink's canProduceEmptyMatches).
    pub fn can_match_empty(&self) -> bool {
        let mut seen = vec![false; self.states.len()];
        let mut stack = vec![self.start];
        while let Some(at) = stack.pop() {
            if std::mem::replace(&mut seen[at as usize], true) {
                continue;
            }
            for transition in &self.state(at).transitions {
                if transition.action == Action::Proceed {
                    if self.state(transition.target).is_final {
                        return true;
                    }
                    stack.push(transition.target);
                }
            }
        }
        false
    }
}

/// Builds the states as NFACompiler does, from the last element back to the first.
pub struct Builder {
    states: Vec<State>,
}

impl Builder {
    pub fn build(pattern: &Element, within: Option<i64>, skip: Skip) -> Nfa {
        let mut builder = Builder { states: Vec::new() };
        let end = builder.new_state(None);
        builder.states[end as usize].is_final = true;
        let start = builder.element(pattern, end);
        Nfa {
            states: builder.states,
            start,
            within,
            skip,
        }
    }

    fn new_state(&mut self, var: Option<VarId>) -> StateId {
        self.states.push(State {
            var,
            is_final: false,
            transitions: Vec::new(),
        });
        (self.states.len() - 1) as StateId
    }

    fn add(&mut self, from: StateId, action: Action, target: StateId, condition: Condition) {
        self.states[from as usize].transitions.push(Transition {
            action,
            target,
            condition,
        });
    }

    /// updateWithGreedyCondition: every edge leaving `state` also needs the loop's own
    /// condition to fail.
    fn greedy(&mut self, state: StateId, var: VarId) {
        for transition in &mut self.states[state as usize].transitions {
            transition.condition.unless.push(var);
        }
    }

    /// The states of `element`, leading to `sink`; returns the element's first state.
    fn element(&mut self, element: &Element, sink: StateId) -> StateId {
        match element {
            Element::Variable { var, repeat } => self.variable(*var, *repeat, sink),
            Element::Sequence(items) => {
                let mut sink = sink;
                for item in items.iter().rev() {
                    sink = self.element(item, sink);
                }
                sink
            }
            Element::Alternation(branches) => {
                // A branch state that only proceeds: each branch runs as its own partial
                // match, as every path through Flink's automaton does. Each branch leads
                // to the sink through a state of its own, so that a greedy loop ending one
                // branch constrains only the rows after that branch.
                let firsts: Vec<StateId> = branches
                    .iter()
                    .map(|b| {
                        let through = self.new_state(None);
                        self.add(through, Action::Proceed, sink, Condition::TRUE);
                        self.element(b, through)
                    })
                    .collect();
                // Edges are explored last first: listing the branches right to left makes
                // the leftmost branch's partial match come first, so of two matches that
                // tie (same first and last row) the leftmost branch's leaves first, the SQL
                // standard's preference.
                let branch = self.new_state(None);
                for first in firsts.into_iter().rev() {
                    self.add(branch, Action::Proceed, first, Condition::TRUE);
                }
                branch
            }
            Element::Group { inner, repeat } => self.group(inner, *repeat, sink),
        }
    }

    /// convertPattern for one variable: CommonExecMatch's translation of the quantifier to
    /// CEP, then NFACompiler's states for it.
    fn variable(&mut self, var: VarId, repeat: Repeat, sink: StateId) -> StateId {
        let take = Condition::define(var);
        match (repeat.min, repeat.max) {
            (1, Some(1)) => {
                let state = self.new_state(Some(var));
                self.add(state, Action::Take, sink, take);
                state
            }
            // `?` is CEP's optional(): take the row or proceed past it, never greedy.
            (0, Some(1)) => {
                let state = self.new_state(Some(var));
                self.add(state, Action::Take, sink, take);
                self.add(state, Action::Proceed, sink, Condition::TRUE);
                state
            }
            // `*`, `+`, `{n,}`: oneOrMore() or timesOrMore(n), optional() for `*`.
            (min, None) => {
                let looping = self.new_state(Some(var));
                self.add(looping, Action::Proceed, sink, Condition::TRUE);
                if repeat.is_greedy() {
                    self.greedy(sink, var);
                }
                self.add(looping, Action::Take, looping, take);
                let times = min.max(1);
                self.times(var, looping, sink, times, times, min == 0, false)
            }
            // `{n}`, `{n,m}`: times(n, m); times(0, m) is times(1, m).optional().
            (min, Some(max)) => {
                let from = min.max(1);
                self.times(var, sink, sink, from, max, min == 0, repeat.is_greedy())
            }
        }
    }

    /// createTimesState: `to - from` optional states, then `from - 1` required ones, then
    /// the first, which may proceed if the whole element is optional.
    #[allow(clippy::too_many_arguments)]
    fn times(
        &mut self,
        var: VarId,
        sink: StateId,
        proceed: StateId,
        from: u32,
        to: u32,
        optional: bool,
        greedy: bool,
    ) -> StateId {
        let take = Condition::define(var);
        if greedy && from != to {
            self.greedy(sink, var);
        }
        let mut last = sink;
        for _ in from..to {
            let state = self.new_state(Some(var));
            self.add(state, Action::Take, last, take.clone());
            self.add(state, Action::Proceed, proceed, Condition::TRUE);
            last = state;
        }
        for _ in 1..from {
            let state = self.new_state(Some(var));
            self.add(state, Action::Take, last, take.clone());
            last = state;
        }
        let first = self.new_state(Some(var));
        self.add(first, Action::Take, last, take);
        if optional {
            self.add(first, Action::Proceed, proceed, Condition::TRUE);
        }
        first
    }

    /// A quantified group, unrolled: `min` required copies of the group, then up to
    /// `max - min` optional ones (or a loop for an unbounded maximum), each able to leave
    /// for what follows once the minimum is reached. A greedy group leaves only on a row
    /// that could not start another round (no first variable of the group accepts it),
    /// also after its last allowed round, as Flink's greedy variables do.
    fn group(&mut self, inner: &Element, repeat: Repeat, sink: StateId) -> StateId {
        let exit = if repeat.is_greedy() {
            let exit = self.new_state(None);
            let leave = Condition {
                base: None,
                unless: first_vars(inner),
            };
            self.add(exit, Action::Proceed, sink, leave);
            exit
        } else {
            sink
        };
        let mut next = match repeat.max {
            None => {
                let again = self.new_state(None);
                let body = self.element(inner, again);
                self.add(again, Action::Proceed, body, Condition::TRUE);
                self.add(again, Action::Proceed, exit, Condition::TRUE);
                again
            }
            Some(max) => {
                let mut next = exit;
                for _ in repeat.min.max(1)..max.max(1) {
                    let body = self.element(inner, next);
                    let choice = self.new_state(None);
                    self.add(choice, Action::Proceed, body, Condition::TRUE);
                    self.add(choice, Action::Proceed, exit, Condition::TRUE);
                    next = choice;
                }
                next
            }
        };
        for _ in 1..repeat.min.max(1) {
            next = self.element(inner, next);
        }
        let first = self.element(inner, next);
        if repeat.min == 0 {
            let choice = self.new_state(None);
            self.add(choice, Action::Proceed, first, Condition::TRUE);
            self.add(choice, Action::Proceed, exit, Condition::TRUE);
            return choice;
        }
        first
    }
}

/// The variables that can take an element's first row.
fn first_vars(element: &Element) -> Vec<VarId> {
    let mut out = Vec::new();
    fn walk(element: &Element, out: &mut Vec<VarId>) -> bool {
        // Returns whether the element can take no row, so the next one's firsts count too.
        match element {
            Element::Variable { var, repeat } => {
                if !out.contains(var) {
                    out.push(*var);
                }
                repeat.min == 0
            }
            Element::Sequence(items) => items.iter().all(|item| walk(item, out)),
            Element::Alternation(branches) => {
                let mut empty = false;
                for branch in branches {
                    empty |= walk(branch, out);
                }
                empty
            }
            Element::Group { inner, repeat } => walk(inner, out) || repeat.min == 0,
        }
    }
    walk(element, &mut out);
    out
}
