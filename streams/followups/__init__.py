"""Closed-loop follow-ups: unhappy responses and complaints -> routed follow-ups with an SLA."""
