"""Model side of the engine: member architectures, training module, export, voting."""
from . import members as _members  # noqa: F401  (registers the architectures)
from .registry import create_member, list_members, register_member
from .voting import VoteResult, majority_vote, vote_details
from .inference import Ensemble

__all__ = ["create_member", "list_members", "register_member",
           "VoteResult", "majority_vote", "vote_details", "Ensemble"]
