"""The script `streamlit run streamlit_app.py` starts: it serves the portal as an st.App and calls the router.

Imported by the server (`streamlit run` finds `app` below), it imports what the pages use
(portal/components/server_start.py) and builds the ASGI app: Streamlit plus /api/session, which sets and deletes the
staff sign-in cookie (portal/components/session_cookie.py), and the staff pages' addresses
(portal/components/deep_links.py). Run as each browser session's script (`__main__`, also under AppTest), it only
calls the router (portal/app.py).

It sits at the repository root, away from portal/pages/: a `pages/` folder beside the started script would switch
on Streamlit's folder mode, which serves those files without the router.
"""

import streamlit as st

if __name__ == "__main__":
    from portal.app import main

    main()
else:
    from portal.app import STAFF_PAGES
    from portal.components import deep_links, session_cookie
    from portal.components.server_start import warm_up

    warm_up()
    app = st.App(__file__, routes=session_cookie.routes() + deep_links.routes(p[3] for p in STAFF_PAGES))
