"""The waitlist: the front desk's list with live offers, the patient's offer banner, and joining the list."""

from .join_waitlist_dialog import JoinWaitlistDialog
from .offer_banner import OfferBanner
from .waitlist_panel import WaitlistPanel, waitlist_panel
from .waitlist_table_model import WaitlistTableModel

__all__ = ["JoinWaitlistDialog", "OfferBanner", "WaitlistPanel", "WaitlistTableModel", "waitlist_panel"]
