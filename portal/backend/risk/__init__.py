"""Risk: the risk index, the at-risk figures and coverage history."""
