"""Superset configuration of the DLA BI tool (loaded through SUPERSET_CONFIG_PATH, which
bi/bi.py sets). Everything machine-specific comes from the environment:

  SUPERSET_SECRET_KEY  Flask secret: signs sessions, encrypts the warehouse password in
                       the metadata DB (BI_SECRET_KEY also accepted). Required.
  BI_DATA_DIR          folder of the metadata DB (SQLite); default $SUPERSET_HOME.
"""

import os
import sys

_data_dir = os.environ.get("BI_DATA_DIR") or os.environ.get("SUPERSET_HOME")
if not _data_dir:
    raise RuntimeError("BI_DATA_DIR (or SUPERSET_HOME) is not set: start Superset with bi/bi.py")

SECRET_KEY = os.environ.get("SUPERSET_SECRET_KEY") or os.environ.get("BI_SECRET_KEY")
if not SECRET_KEY:
    raise RuntimeError("SUPERSET_SECRET_KEY is not set (bi/bi.py generates one on first setup)")

# Metadata DB (dashboards, charts, users): a SQLite file, enough for a few dozen users.
# Superset 6.1 warns that SQLite support for it will be removed in a future version:
# move it to a PostgreSQL database for a larger deployment.
SQLALCHEMY_DATABASE_URI = (
    "sqlite:///" + os.path.join(_data_dir, "superset.db") + "?check_same_thread=false"
)
SQLALCHEMY_EXAMPLES_URI = None  # no example data anywhere

APP_NAME = "DLA BI"
LOG_LEVEL = os.environ.get("SUPERSET_LOG_LEVEL", "INFO").upper()

# ---- No CDN, no outside calls --------------------------------------------------------
# The frontend is served from the wheel; nothing is prefixed with a CDN.
STATIC_ASSETS_PREFIX = ""
MAPBOX_API_KEY = ""
# The 6.1 bundle hard-codes one outside call (the Scarf telemetry pixel, an <img>): a CSP
# of 'self' only makes the browser refuse it. Map tiles are left out for the same reason.
TALISMAN_ENABLED = True
TALISMAN_CONFIG = {
    "content_security_policy": {
        "base-uri": ["'self'"],
        "default-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'", "data:"],
        "script-src": ["'self'", "'strict-dynamic'"],
    },
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,  # TLS ends at the reverse proxy in front, if any
    "session_cookie_secure": False,
}
THEME_FONT_URL_ALLOWED_DOMAINS: list[str] = []

# ---- Thai ---------------------------------------------------------------------------
# Superset ships no Thai UI translation, so the UI stays English and every title and
# label is "ไทย / English". Inter (bundled) has no Thai glyphs: Thai falls through to the
# viewer's Thai font (Windows: Leelawadee UI, Tahoma; macOS: Thonburi; Linux: Noto Sans
# Thai or TLWG's Loma/Garuda/Sawasdee).
_THAI_FONTS = (
    "Inter, 'Noto Sans Thai', 'Leelawadee UI', Thonburi, Tahoma, Loma, Garuda, Sawasdee, sans-serif"
)
# superset.config is half-loaded while this file runs: start from its default theme.
_defaults = sys.modules.get("superset.config")
_theme_tokens = dict(getattr(_defaults, "THEME_DEFAULT", {}).get("token", {}))
_theme_tokens.update(
    {"brandAppName": APP_NAME, "brandLogoAlt": APP_NAME, "fontFamily": _THAI_FONTS, "fontUrls": []}
)
THEME_DEFAULT = {"token": _theme_tokens, "algorithm": "default"}
THEME_DARK = None

# Baht: a "$,.0f" format renders ฿1,234. CSV downloads carry a BOM (Excel and Thai text).
D3_FORMAT = {"decimal": ".", "thousands": ",", "grouping": [3], "currency": ["฿", ""]}
CSV_EXPORT = {"encoding": "utf-8-sig"}

# ---- Behaviour -----------------------------------------------------------------------
FEATURE_FLAGS = {
    "DASHBOARD_RBAC": True,  # dashboards can be granted per Superset role
}
# In-process caches, no Redis. The marts change once a night.
CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 600}
RATELIMIT_STORAGE_URI = "memory://"
SQLLAB_TIMEOUT = 60
SUPERSET_WEBSERVER_TIMEOUT = 60
ROW_LIMIT = 50000
PREVENT_UNSAFE_DB_CONNECTIONS = True
