//! The impact operator as an [`Operator`](crate::operator::Operator).

use trustloop_schemas::{Event, EventType};

use super::ImpactState;
use crate::input::Input;
use crate::operator::Operator;

impl Operator for ImpactState {
    fn name(&self) -> &'static str {
        "impact"
    }

    fn inputs(&self) -> &'static [EventType] {
        &[EventType::Policy, EventType::Advisory, EventType::VexStatement, EventType::ReleaseInventory]
    }

    fn outputs(&self) -> &'static [EventType] {
        &[EventType::Finding]
    }

    fn apply(&mut self, input: &Input<'_>) -> Vec<Event> {
        ImpactState::apply(self, input.event).into_iter().map(Event::Finding).collect()
    }
}
