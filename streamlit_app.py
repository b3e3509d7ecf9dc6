"""The script `streamlit run streamlit_app.py` starts: it serves the portal as an st.App and calls the router.

Imported by the server (`streamlit run` finds `app` below), it builds the ASGI app: Streamlit plus one route,
/api/session, that sets and deletes the staff sign-in cookie (portal/components/session_cookie.py), after importing
what the pages use (portal/components/server_start.py). Run as each browser session's script (`__main__`, also
under AppTest), it only calls the router (portal/app.py).

It sits at the repository root, away from portal/pages/: a `pages/` folder beside the started script would switch
on Streamlit's folder mode, which serves those files without the router.
"""

import streamlit as st

if __name__ == "__main__":
    from portal.app import main

    main()
else:
    from portal.components.server_start import warm_up
    from portal.components.session_cookie import routes

    warm_up()
    app = st.App(__file__, routes=routes())
