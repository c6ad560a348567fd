"""The Skeletor Live wire protocol (transitional: the codec module holds everything)."""

from skeletor.protocol.codec import *  # noqa: F401,F403
from skeletor.protocol.codec import __all__, __doc__  # noqa: F401
