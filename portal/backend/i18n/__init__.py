"""Message catalogues for the pages data subjects see (English and Swedish)."""

from __future__ import annotations

from collections.abc import Sequence

LOCALES = ("en", "sv")

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "my_consents.title": "Your photo consents",
        "my_consents.intro": "Hello {name}. Here you can see what you have agreed to and change it at any time. "
        "Withdrawing is free and takes one click.",
        "my_consents.controller": "Who is responsible: {controller} ({email}).",
        "my_consents.no_link": "Open this page with the personal link you received after registering. "
        "If you have lost it, ask {controller} for a new one.",
        "my_consents.withdraw": "Withdraw",
        "my_consents.give": "I agree",
        "my_consents.saved": "Saved: your consent is recorded. You can withdraw it here at any time.",
        "my_consents.withdraw_all": "Withdraw everything",
        "my_consents.withdraw_all_confirm": "Yes, withdraw all my consents",
        "my_consents.withdrawn": "Withdrawn. We have recorded it and will stop using your photos for this.",
        "my_consents.all_withdrawn": "All your consents are withdrawn.",
        "my_consents.recipients": "Who receives the photos",
        "my_consents.valid_until": "valid until {date}",
        "my_consents.since": "since {date}",
        "status.given": "Given",
        "status.renewed": "Given (renewed)",
        "status.refused": "Not given",
        "status.withdrawn": "Withdrawn",
        "status.revoked": "Cancelled by the organisation",
        "status.expired": "Expired",
        "status.unknown": "Not asked yet",
        "status.superseded": "Text changed: renew to keep it",
        "renew.title": "Our text has changed: please look again",
        "renew.intro": "After you agreed to “{title}”, we changed what it says. Until you renew, we do not use "
        "photos of you for it. If you do nothing, nothing more happens; you can also withdraw.",
        "renew.photo": "This is about one photo of you (your choice for that photo only).",
        "renew.title_changed": "The title was “{old}” and is now “{new}”.",
        "renew.removed": "No longer in the text",
        "renew.added": "New in the text",
        "renew.no_body_change": "The wording of the text itself did not change.",
        "renew.recipients_added": "New recipients: {names}",
        "renew.recipients_removed": "No longer receiving the photos: {names}",
        "renew.full_text": "The new text in full",
        "renew.button": "Renew",
        "renew.done": "Renewed: your consent now follows the new text. You can withdraw it here at any time.",
        "language": "Language",
        "form.title": "Photos at {event}",
        "form.intro": "{controller} takes photos at this event. Here you decide, for each purpose separately, "
        "whether we may use photos of you. Nothing is ticked in advance. You can say no to everything and still "
        "take part, and you can withdraw any consent later, at any time and free of charge, through the personal "
        "link you get after sending this form.",
        "form.controller": "Responsible for your data: {controller}, {address}. Contact: {email}. "
        "Data protection officer: {dpo}.",
        "form.separate": "This form is only about photos. It is separate from any other registration or terms.",
        "form.name": "Your name",
        "form.email": "Your e-mail (optional, to receive your personal link)",
        "form.minor": "I am under {age}",
        "form.minor_help": "Below {age}, a parent or guardian must fill in this form for you.",
        "form.guardian_name": "Name of the parent or guardian filling in the form",
        "form.guardian_confirm": "I am this child's parent or legal guardian",
        "form.birth_month": "Month of birth",
        "form.birth_year": "Year of birth",
        "form.birth_help": "We ask for month and year only to know whether a parent or guardian must consent "
        "(below {age}).",
        "form.need_birth": "Choose your month and year of birth.",
        "form.minor_note": "You are under {age}, so a parent or guardian fills in the rest of this form for you.",
        "form.kiosk_method": "Staff: how did you verify the parent or guardian?",
        "form.need_method": "Staff: choose how the parent or guardian was verified.",
        "guardian.method.staff_checked_id": "Staff checked the guardian's ID",
        "guardian.method.guardian_present": "Guardian present and known to staff",
        "guardian.method.signed_paper_form": "Guardian signed the paper form",
        "guardian.method.declared_on_form": "Guardian declared it on the event's form",
        "guardian.method.declared_on_personal_link": "Guardian declared it on the personal link",
        "guardian.step_title": "A parent or guardian must give this consent",
        "guardian.step_intro": "{name} is under {age}. Only a parent or legal guardian can give or renew consent "
        "for them. Withdrawing stays one tap for anyone.",
        "guardian.step_for": "Consent asked for: {what}",
        "guardian.name": "Name of the parent or guardian",
        "guardian.declare": "I am the parent or legal guardian of {name} and I give this consent on their behalf",
        "guardian.confirm": "Give consent as the guardian",
        "guardian.cancel": "Cancel",
        "guardian.need": "Write your name and tick the declaration to give consent as the guardian.",
        "guardian.required": "A parent or guardian must give this consent.",
        "form.purposes": "What may we use photos of you for?",
        "form.agree": "Yes, I agree to: {title}",
        "form.recipients": "Who receives the photos",
        "form.data": "Data used",
        "form.selfie_title": "Your selfie for face matching",
        "form.selfie_text": "Take or upload one photo of your face. We use it once, to compute a face template, "
        "and delete the selfie straight away. The template is kept only while you allow face matching.",
        "form.selfie_camera": "Take a selfie",
        "form.selfie_how": "How do you want to add the photo of your face?",
        "form.selfie_how_camera": "Take a photo now (starts the camera)",
        "form.selfie_how_upload": "Upload a photo I already have",
        "form.selfie_upload": "…or upload a photo of your face",
        "form.submit": "Send my choices",
        "form.need_selfie": "You chose face matching: take or upload a selfie, or untick face matching.",
        "form.need_guardian": "A parent or guardian must give their name and confirm they are the guardian.",
        "form.need_name": "Fill in the name.",
        "form.choose": "Choose",
        "form.name_too_long": "This name is {n} characters long; at most {max} fit. Shorten it, please.",
        "form.name_bad_chars": "The name cannot contain < or >, line breaks or invisible characters.",
        "form.bad_email": "This is not an e-mail address. Check it, or leave the field empty.",
        "form.fix_above": "Something above needs a correction: see the message in red.",
        "form.selfie_no_face": "We could not find a face in this photo. Take it facing the camera, in good light.",
        "form.selfie_many_faces": "This photo shows more than one face. Take one that shows only the one person.",
        "form.selfie_unreadable": "This file could not be read as a photo. Take a new one or choose another file.",
        "form.not_recorded": "Your choices could not be recorded. Nothing was saved; please try again, or ask "
        "{controller}.",
        "form.name_child": "The child's name",
        "form.email_child": "E-mail (optional, to receive the child's personal link)",
        "form.purposes_child": "What may we use photos of the child for?",
        "form.selfie_title_child": "The child's selfie for face matching",
        "form.selfie_text_child": "Take or upload one photo of the child's face. We use it once, to compute a face "
        "template, and delete the photo straight away. The template is kept only while face matching is allowed.",
        "form.submit_child": "Send the choices for the child",
        "form.thanks": "Thank you, {name}. Your choices are recorded.",
        "form.summary_given": "You agreed to: {purposes}.",
        "form.summary_none": "You did not agree to any use of photos. That is fine: photos of you will not be used.",
        "form.link": "Your personal link: keep it to see your photos and change your choices at any time.",
        "form.link_mailed": "We are also sending this link to {email}.",
        "form.link_not_mailed": "E-mail is not set up here yet, so no e-mail with this link will come: keep it now "
        "(bookmark it, copy it or scan the QR code).",
        "form.open_page": "Open my page",
        "form.open_page_help": "Opens your personal page in this tab; reloading the tab keeps it open.",
        "form.copy_hint": "To keep the link, copy it with the icon at the right of the box, or bookmark your page.",
        "form.email_me": "E-mail it to me",
        "form.email_me_done": "We are sending a link to {email}. It can take a few minutes.",
        "form.email_me_too_soon": "A link was e-mailed to you a few minutes ago: please look in your inbox (and spam "
        "folder) before asking again.",
        "form.email_me_no_address": "You gave no e-mail address, so we cannot e-mail you the link: keep it now.",
        "form.qr": "Scan this QR code to open your page on another device.",
        "form.qr_alt": "QR code of your personal link",
        "lostlink.title": "Lost your link?",
        "lostlink.intro": "Give the e-mail address you registered with. If it is confirmed (you opened a link we "
        "e-mailed to it), we send a new link there, and older links stop working.",
        "lostlink.email": "E-mail address",
        "lostlink.send": "Send me a new link",
        "lostlink.answer": "If this address is registered and confirmed, a new link is on its way to it; it can take "
        "a few minutes. If nothing arrives, contact {controller} at {email}.",
        "lostlink.bad_email": "That does not look like an e-mail address.",
        "lostlink.no_mail": "E-mail is not set up here, so no link can be sent. Contact {controller} at {email} for "
        "a new one.",
        "link.dead": "This link no longer works: it has expired, or a newer link replaced it.",
        "token.damaged": "This link is damaged: it was not copied completely. Open it again from the e-mail.",
        "token.invalid": "This link is not valid: it was changed, is incomplete, or a newer link replaced it.",
        "token.expired": "This link has expired. Ask for a new one below.",
        "token.withdrawn": "This link has been withdrawn. Ask for a new one below.",
        "token.used": "This link has already been used: your choices were confirmed then.",
        "token.erased": "The data behind this link has been erased. There is nothing left to show here.",
        "token.qr_unknown": "This QR code does not belong to an event of this organisation.",
        "token.qr_replaced": "This QR code is no longer valid (the poster was replaced). Ask the staff for the "
        "current one.",
        "form.pending_title": "Check your e-mail",
        "form.pending": "Thank you. {email} is already registered with us, so we did not make a second record. "
        "We have sent a message to that address: your new choices count once you confirm them with its link "
        "(within {days} days). Until then, nothing changes.",
        "form.pending_selfie": "A selfie sent with this form is not kept: face matching uses the one from your "
        "first registration.",
        "confirm.title": "Confirm your new choices",
        "confirm.intro": "Hello {name}. You filled in the photo form again. These are the changes it makes to your "
        "choices; they count once you confirm them.",
        "confirm.none": "Your new form changes nothing: your choices already are what it says.",
        "confirm.button": "Confirm these choices",
        "confirm.expires": "This link works once, until {date}.",
        "confirm.done": "Confirmed. Your choices are recorded, and a receipt is on your personal page.",
        "confirm.guardian": "A parent or guardian must confirm this for a child: ask them to fill in the form.",
        "confirm.action.given": "Given",
        "confirm.action.renewed": "Given again (renewed)",
        "confirm.action.withdrawn": "Withdrawn",
        "confirm.action.refused": "Not given",
        "form.bad_token": "This QR code cannot be used.",
        "error.unexpected": "Sorry, something went wrong on our side. Please try again in a moment. If it keeps happening, tell the organiser this code: {error_id}.",
        "error.busy": "The portal is very busy right now and could not answer in time. Nothing was lost; please try again in a minute.",
        "demo.banner": "**Demo data.** Everything here is invented for trying the portal; the demo accounts are "
        "public.",
        "form.selfie_too_big": "That file is larger than {mb} MB. Take a new selfie or choose a smaller photo.",
        "kiosk.done": "Done, thank you",
        "kiosk.thanks": "Your choices are recorded. You can hand the tablet back.",
        "kiosk.link_mailed": "We are sending your personal link to the e-mail address you gave. With it you can see "
        "your photos and change your choices at any time.",
        "kiosk.link_later": "To see your photos or change your choices later, ask {controller} ({email}) for your "
        "personal link. For your privacy it is not shown on this shared tablet.",
        "kiosk.next": "Next person",
        "kiosk.idle": "No one there? This form clears itself for the next person in {seconds} s.",
        "kiosk.idle_stay": "I am still here",
        "rights.title": "Your data",
        "rights.intro": "Download everything we hold about you, or ask us to erase you. Erasing removes your name, "
        "contact details, guardian's details, notes, receipts, messages and face template, and blurs you in every "
        "stored photo; what remains is a record under a random number, no longer linked to your name, of which "
        "consents were given and withdrawn and when.",
        "rights.prepare": "Prepare a download of my data",
        "rights.download": "Download my data (ZIP)",
        "rights.erase": "Erase me",
        "rights.erase_warning": "This cannot be undone, and your personal link will stop working. Deleted: your "
        "name, e-mail, phone, birth year, your guardian's name and how they were checked, notes, your receipts, "
        "messages waiting for you, your face template and the scan of a paper form; you are blurred in every "
        "stored photo and the places that publish them are asked to take them down. Kept: for each consent, which "
        "purpose, which wording, what was done (given, refused, withdrawn) and when, under a random number that "
        "no longer leads to you. We must be able to prove that we asked before using a photo (GDPR Art. 7(1)), so "
        "this record cannot be deleted. Copies in the organisation's backups disappear as the backups are "
        "replaced.",
        "rights.erase_type": "To confirm, type {word}",
        "rights.erase_word": "ERASE",
        "rights.erase_word_wrong": "Type {word} in the box to confirm; nothing was erased.",
        "rights.erase_confirm": "Yes, erase me for good",
        "rights.erased_title": "Your data has been erased",
        "rights.erased": "You have been erased. Photos of you are blurred and your personal data is deleted. "
        "What remains is the record of which consents were given and withdrawn and when, under a random number "
        "that no longer leads to you. You can close this page.",
        "rights.link_erased": "The data behind this link has been erased. There is nothing left to show here.",
        "receipts.title": "Your receipts",
        "receipts.pdf": "Receipt (PDF)",
        "receipts.json": "Receipt (machine-readable JSON)",
        "receipts.not_ready": "Your choice is recorded. This receipt cannot be made just yet; it will be here once the organiser has completed their details.",
        "photos.title": "Your photos",
        "photos.intro": "These are the photos you are in. Other people are blurred; your face is outlined.",
        "photos.none": "No photo is linked to you yet.",
        "photos.used": "Used for {purpose} at {place} since {date}",
        "photos.unused": "Not published anywhere.",
        "photos.not_this": "Not this photo: {title}",
        "photos.allow_this": "Allow this photo: {title}",
        "personal.you_allow": "**You allow:** {titles}",
        "personal.you_dont_allow": "**You don't allow:** {titles}",
        "personal.allow_nothing": "**You allow:** nothing at the moment.",
        "personal.next_expiry": "Next expiry: {date} ({title}).",
        "personal.change": "Change: {title}",
        "personal.face_matching_form": "Face matching needs a photo of your face: turn it on through the event's form.",
        "personal.withdraw_all_ask": "This withdraws every consent you have given. We stop using photos of you for "
        "all purposes. Are you sure?",
        "personal.cancel": "Cancel",
        "personal.guardian_above": "A parent or guardian must confirm this. Their step is at the top of this page.",
        "personal.stale": "This had already changed (perhaps in another tab). The page now shows what is recorded.",
        "personal.error": "Sorry, we could not save this. Please try again; if it keeps happening, contact "
        "{controller}.",
        "personal.erased_gone": "The data behind this link has been erased. There is nothing left to change.",
        "personal.used_on": "Used on: {places}",
        "personal.not_used": "Not published",
        "personal.allowed_of": "allowed for {allowed} of {total} purposes",
        "personal.photo_choices": "Choices for this photo",
        "personal.photo_alt_event": "Photo from {event} on {date} where you appear. Other people are blurred.",
        "personal.photo_alt": "Photo from {date} where you appear. Other people are blurred.",
        "personal.not_me": "That's not me",
        "personal.not_me_ask": "Is this photo not of you? We take it off your page and ask our staff to check it.",
        "personal.not_me_confirm": "Yes, this is not me",
        "personal.not_me_done": "Thank you. The photo is off your page and our staff will check it.",
        "personal.not_me_already": "You already told us that this photo does not show you.",
        "personal.not_me_not_linked": "This photo is no longer linked to you.",
        "personal.receipt_what": "{action}: {titles}",
        "personal.receipts": "Your receipts ({count})",
        "personal.receipt_language.en": "in English",
        "personal.receipt_language.sv": "in Swedish",
        "personal.receipt_this_photo": "{title} (one photo)",
        "personal.rights_more": "Your data: download or erase it",
    },
    "sv": {
        "my_consents.title": "Dina samtycken för bilder",
        "my_consents.intro": "Hej {name}. Här ser du vad du har gått med på och kan ändra det när du vill. "
        "Att återkalla är gratis och tar ett klick.",
        "my_consents.controller": "Ansvarig: {controller} ({email}).",
        "my_consents.no_link": "Öppna sidan med den personliga länk du fick när du registrerade dig. "
        "Om du har tappat bort den, be {controller} om en ny.",
        "my_consents.withdraw": "Återkalla",
        "my_consents.give": "Jag godkänner",
        "my_consents.saved": "Sparat: ditt samtycke är registrerat. Du kan återkalla det här när du vill.",
        "my_consents.withdraw_all": "Återkalla allt",
        "my_consents.withdraw_all_confirm": "Ja, återkalla alla mina samtycken",
        "my_consents.withdrawn": "Återkallat. Vi har registrerat det och slutar använda dina bilder för detta.",
        "my_consents.all_withdrawn": "Alla dina samtycken är återkallade.",
        "my_consents.recipients": "Vem som får bilderna",
        "my_consents.valid_until": "gäller till {date}",
        "my_consents.since": "sedan {date}",
        "status.given": "Givet",
        "status.renewed": "Givet (förnyat)",
        "status.refused": "Inte givet",
        "status.withdrawn": "Återkallat",
        "status.revoked": "Upphävt av organisationen",
        "status.expired": "Har gått ut",
        "status.unknown": "Inte tillfrågad än",
        "status.superseded": "Texten har ändrats: förnya för att behålla",
        "renew.title": "Vår text har ändrats: titta gärna igen",
        "renew.intro": "Efter att du gick med på ”{title}” har vi ändrat vad texten säger. Tills du förnyar "
        "använder vi inte bilder på dig för detta. Gör du ingenting händer inget mer; du kan också återkalla.",
        "renew.photo": "Det gäller en bild på dig (ditt val för just den bilden).",
        "renew.title_changed": "Rubriken var ”{old}” och är nu ”{new}”.",
        "renew.removed": "Finns inte längre i texten",
        "renew.added": "Nytt i texten",
        "renew.no_body_change": "Själva texten ändrades inte.",
        "renew.recipients_added": "Nya mottagare: {names}",
        "renew.recipients_removed": "Får inte längre bilderna: {names}",
        "renew.full_text": "Hela den nya texten",
        "renew.button": "Förnya",
        "renew.done": "Förnyat: ditt samtycke följer nu den nya texten. Du kan återkalla det här när du vill.",
        "language": "Språk",
        "form.title": "Bilder från {event}",
        "form.intro": "{controller} fotograferar på det här evenemanget. Här bestämmer du, för varje ändamål för "
        "sig, om vi får använda bilder på dig. Inget är förifyllt. Du kan säga nej till allt och ändå vara med, och "
        "du kan när som helst och kostnadsfritt återkalla ett samtycke via den personliga länk du får när du har "
        "skickat formuläret.",
        "form.controller": "Ansvarig för dina uppgifter: {controller}, {address}. Kontakt: {email}. "
        "Dataskyddsombud: {dpo}.",
        "form.separate": "Formuläret gäller bara bilder. Det är skilt från annan anmälan eller andra villkor.",
        "form.name": "Ditt namn",
        "form.email": "Din e-post (frivilligt, för att få din personliga länk)",
        "form.minor": "Jag är under {age} år",
        "form.minor_help": "Under {age} år måste en förälder eller vårdnadshavare fylla i formuläret åt dig.",
        "form.guardian_name": "Namn på föräldern eller vårdnadshavaren som fyller i",
        "form.guardian_confirm": "Jag är barnets förälder eller vårdnadshavare",
        "form.birth_month": "Födelsemånad",
        "form.birth_year": "Födelseår",
        "form.birth_help": "Vi frågar bara efter månad och år för att veta om en förälder eller vårdnadshavare "
        "måste samtycka (under {age} år).",
        "form.need_birth": "Välj din födelsemånad och ditt födelseår.",
        "form.minor_note": "Du är under {age} år, så en förälder eller vårdnadshavare fyller i resten av "
        "formuläret åt dig.",
        "form.kiosk_method": "Personal: hur kontrollerade du föräldern eller vårdnadshavaren?",
        "form.need_method": "Personal: välj hur föräldern eller vårdnadshavaren kontrollerades.",
        "guardian.method.staff_checked_id": "Personalen kontrollerade vårdnadshavarens legitimation",
        "guardian.method.guardian_present": "Vårdnadshavaren var på plats och är känd av personalen",
        "guardian.method.signed_paper_form": "Vårdnadshavaren skrev under pappersblanketten",
        "guardian.method.declared_on_form": "Vårdnadshavaren intygade det i evenemangets formulär",
        "guardian.method.declared_on_personal_link": "Vårdnadshavaren intygade det via den personliga länken",
        "guardian.step_title": "En förälder eller vårdnadshavare måste lämna samtycket",
        "guardian.step_intro": "{name} är under {age} år. Bara en förälder eller vårdnadshavare kan lämna eller "
        "förnya samtycke åt hen. Att återkalla är fortfarande ett enda tryck för alla.",
        "guardian.step_for": "Samtycke som ska lämnas: {what}",
        "guardian.name": "Förälderns eller vårdnadshavarens namn",
        "guardian.declare": "Jag är förälder eller vårdnadshavare till {name} och lämnar samtycket för hens räkning",
        "guardian.confirm": "Lämna samtycke som vårdnadshavare",
        "guardian.cancel": "Avbryt",
        "guardian.need": "Skriv ditt namn och kryssa i intygandet för att lämna samtycke som vårdnadshavare.",
        "guardian.required": "En förälder eller vårdnadshavare måste lämna det här samtycket.",
        "form.purposes": "Vad får vi använda bilder på dig till?",
        "form.agree": "Ja, jag godkänner: {title}",
        "form.recipients": "Vem som får bilderna",
        "form.data": "Uppgifter som används",
        "form.selfie_title": "Din selfie för ansiktsmatchning",
        "form.selfie_text": "Ta eller ladda upp en bild på ditt ansikte. Vi använder den en gång för att räkna fram "
        "en ansiktsmall och raderar selfien direkt. Mallen sparas bara så länge du tillåter ansiktsmatchning.",
        "form.selfie_camera": "Ta en selfie",
        "form.selfie_how": "Hur vill du lägga till bilden av ditt ansikte?",
        "form.selfie_how_camera": "Ta en bild nu (startar kameran)",
        "form.selfie_how_upload": "Ladda upp en bild jag redan har",
        "form.selfie_upload": "…eller ladda upp en bild på ditt ansikte",
        "form.submit": "Skicka mina val",
        "form.need_selfie": "Du valde ansiktsmatchning: ta eller ladda upp en selfie, eller avmarkera ansiktsmatchning.",
        "form.need_guardian": "En förälder eller vårdnadshavare måste ange sitt namn och bekräfta att hen är vårdnadshavare.",
        "form.need_name": "Fyll i namnet.",
        "form.choose": "Välj",
        "form.name_too_long": "Namnet är {n} tecken långt; högst {max} får plats. Korta det, tack.",
        "form.name_bad_chars": "Namnet kan inte innehålla < eller >, radbrytningar eller osynliga tecken.",
        "form.bad_email": "Det här är ingen e-postadress. Kontrollera den eller lämna fältet tomt.",
        "form.fix_above": "Något ovanför behöver rättas: se meddelandet i rött.",
        "form.selfie_no_face": "Vi hittade inget ansikte i bilden. Ta den rakt framifrån, i bra ljus.",
        "form.selfie_many_faces": "Bilden visar mer än ett ansikte. Ta en som bara visar den ena personen.",
        "form.selfie_unreadable": "Filen gick inte att läsa som en bild. Ta en ny eller välj en annan fil.",
        "form.not_recorded": "Dina val kunde inte registreras. Inget sparades; försök igen eller kontakta "
        "{controller}.",
        "form.name_child": "Barnets namn",
        "form.email_child": "E-post (frivilligt, för att få barnets personliga länk)",
        "form.purposes_child": "Vad får vi använda bilder på barnet till?",
        "form.selfie_title_child": "Barnets selfie för ansiktsmatchning",
        "form.selfie_text_child": "Ta eller ladda upp en bild på barnets ansikte. Vi använder den en gång för att "
        "räkna fram en ansiktsmall och raderar bilden direkt. Mallen sparas bara så länge ansiktsmatchning tillåts.",
        "form.submit_child": "Skicka valen för barnet",
        "form.thanks": "Tack, {name}. Dina val är registrerade.",
        "form.summary_given": "Du godkände: {purposes}.",
        "form.summary_none": "Du godkände ingen användning av bilder. Det går bra: bilder på dig kommer inte att användas.",
        "form.link": "Din personliga länk: spara den för att se dina bilder och ändra dina val när du vill.",
        "form.link_mailed": "Vi skickar också länken till {email}.",
        "form.link_not_mailed": "E-post är inte inställd här än, så inget e-brev med länken kommer: spara den nu "
        "(bokmärk den, kopiera den eller skanna QR-koden).",
        "form.open_page": "Öppna min sida",
        "form.open_page_help": "Öppnar din personliga sida i den här fliken; den är kvar om du laddar om fliken.",
        "form.copy_hint": "Spara länken genom att kopiera den med ikonen till höger i rutan, eller bokmärk din sida.",
        "form.email_me": "Mejla den till mig",
        "form.email_me_done": "Vi skickar en länk till {email}. Det kan ta några minuter.",
        "form.email_me_too_soon": "En länk mejlades till dig för några minuter sedan: titta i inkorgen (och "
        "skräpposten) innan du frågar igen.",
        "form.email_me_no_address": "Du angav ingen e-postadress, så vi kan inte mejla länken: spara den nu.",
        "form.qr": "Skanna QR-koden för att öppna din sida på en annan enhet.",
        "form.qr_alt": "QR-kod med din personliga länk",
        "lostlink.title": "Tappat bort länken?",
        "lostlink.intro": "Ange e-postadressen du registrerade dig med. Om den är bekräftad (du har öppnat en länk "
        "vi mejlat dit) skickar vi en ny länk dit, och äldre länkar slutar fungera.",
        "lostlink.email": "E-postadress",
        "lostlink.send": "Skicka en ny länk",
        "lostlink.answer": "Om adressen är registrerad och bekräftad är en ny länk på väg dit; det kan ta några "
        "minuter. Kommer inget, kontakta {controller} på {email}.",
        "lostlink.bad_email": "Det ser inte ut som en e-postadress.",
        "lostlink.no_mail": "E-post är inte inställd här, så ingen länk kan skickas. Kontakta {controller} på {email} "
        "för en ny.",
        "link.dead": "Länken fungerar inte längre: den har gått ut, eller så har en nyare länk ersatt den.",
        "token.damaged": "Länken är skadad: den kopierades inte hela. Öppna den igen från e-brevet.",
        "token.invalid": "Länken är inte giltig: den har ändrats, är ofullständig eller har ersatts av en nyare.",
        "token.expired": "Länken har gått ut. Be om en ny nedan.",
        "token.withdrawn": "Länken har dragits tillbaka. Be om en ny nedan.",
        "token.used": "Länken har redan använts: dina val bekräftades då.",
        "token.erased": "Uppgifterna bakom den här länken är raderade. Det finns inget kvar att visa här.",
        "token.qr_unknown": "Den här QR-koden hör inte till ett evenemang hos den här organisationen.",
        "token.qr_replaced": "Den här QR-koden gäller inte längre (affischen har bytts ut). Be personalen om den "
        "aktuella.",
        "form.pending_title": "Titta i din e-post",
        "form.pending": "Tack. {email} finns redan registrerad hos oss, så vi skapade ingen ny post. Vi har skickat "
        "ett meddelande till adressen: dina nya val gäller när du bekräftar dem med länken i det (inom {days} "
        "dagar). Till dess ändras ingenting.",
        "form.pending_selfie": "En selfie som skickas med det här formuläret sparas inte: ansiktsmatchningen "
        "använder den från din första registrering.",
        "confirm.title": "Bekräfta dina nya val",
        "confirm.intro": "Hej {name}. Du fyllde i bildformuläret igen. Så här ändrar det dina val; ändringarna "
        "gäller när du bekräftar dem.",
        "confirm.none": "Ditt nya formulär ändrar ingenting: dina val är redan som det säger.",
        "confirm.button": "Bekräfta de här valen",
        "confirm.expires": "Länken fungerar en gång, till och med {date}.",
        "confirm.done": "Bekräftat. Dina val är registrerade, och ett kvitto finns på din personliga sida.",
        "confirm.guardian": "En förälder eller vårdnadshavare måste bekräfta detta för ett barn: be hen fylla i "
        "formuläret.",
        "confirm.action.given": "Givet",
        "confirm.action.renewed": "Givet igen (förnyat)",
        "confirm.action.withdrawn": "Återkallat",
        "confirm.action.refused": "Inte givet",
        "form.bad_token": "Den här QR-koden kan inte användas.",
        "error.unexpected": "Tyvärr gick något fel hos oss. Försök igen om en stund. Om det fortsätter, ge arrangören den här koden: {error_id}.",
        "error.busy": "Portalen är mycket upptagen just nu och hann inte svara. Inget har gått förlorat; försök igen om en minut.",
        "demo.banner": "**Demodata.** Allt här är påhittat för att prova portalen; demokontona är offentliga.",
        "form.selfie_too_big": "Filen är större än {mb} MB. Ta en ny selfie eller välj en mindre bild.",
        "kiosk.done": "Klart, tack",
        "kiosk.thanks": "Dina val är registrerade. Du kan lämna tillbaka surfplattan.",
        "kiosk.link_mailed": "Vi skickar din personliga länk till e-postadressen du angav. Med den kan du se dina "
        "bilder och ändra dina val när du vill.",
        "kiosk.link_later": "Vill du se dina bilder eller ändra dina val senare, be {controller} ({email}) om din "
        "personliga länk. Av integritetsskäl visas den inte på den här delade surfplattan.",
        "kiosk.next": "Nästa person",
        "kiosk.idle": "Ingen här? Formuläret töms för nästa person om {seconds} s.",
        "kiosk.idle_stay": "Jag är kvar",
        "rights.title": "Dina uppgifter",
        "rights.intro": "Ladda ner allt vi har om dig, eller be oss radera dig. Radering tar bort ditt namn, dina "
        "kontaktuppgifter, din vårdnadshavares uppgifter, anteckningar, kvitton, meddelanden och din ansiktsmall "
        "och suddar dig i alla sparade bilder; kvar blir en uppgift under ett slumpat nummer, som inte längre "
        "leder till ditt namn, om vilka samtycken som gavs och återkallades och när.",
        "rights.prepare": "Förbered en nedladdning av mina uppgifter",
        "rights.download": "Ladda ner mina uppgifter (ZIP)",
        "rights.erase": "Radera mig",
        "rights.erase_warning": "Det går inte att ångra, och din personliga länk slutar fungera. Raderas: ditt "
        "namn, din e-post, ditt telefonnummer, ditt födelseår, din vårdnadshavares namn och hur hen kontrollerades, "
        "anteckningar, dina kvitton, meddelanden som väntar på dig, din ansiktsmall och skanningen av en "
        "pappersblankett; du suddas i alla sparade bilder och de som publicerar dem ombeds ta ner dem. Sparas: för "
        "varje samtycke vilket ändamål, vilken text, vad som gjordes (gav, nekade, återkallade) och när, under ett "
        "slumpat nummer som inte längre leder till dig. Vi måste kunna visa att vi frågade innan en bild används "
        "(GDPR art. 7.1), därför kan den uppgiften inte raderas. Kopior i organisationens säkerhetskopior "
        "försvinner när säkerhetskopiorna ersätts.",
        "rights.erase_type": "Skriv {word} för att bekräfta",
        "rights.erase_word": "RADERA",
        "rights.erase_word_wrong": "Skriv {word} i rutan för att bekräfta; ingenting raderades.",
        "rights.erase_confirm": "Ja, radera mig för gott",
        "rights.erased_title": "Dina uppgifter är raderade",
        "rights.erased": "Du är raderad. Bilder på dig är suddade och dina personuppgifter är borttagna. Kvar "
        "finns uppgiften om vilka samtycken som gavs och återkallades och när, under ett slumpat nummer som inte "
        "längre leder till dig. Du kan stänga sidan.",
        "rights.link_erased": "Uppgifterna bakom den här länken är raderade. Det finns inget kvar att visa här.",
        "receipts.title": "Dina kvitton",
        "receipts.pdf": "Kvitto (PDF)",
        "receipts.json": "Kvitto (maskinläsbar JSON)",
        "receipts.not_ready": "Ditt val är registrerat. Kvittot kan inte skapas just nu; det kommer här när arrangören har fyllt i sina uppgifter.",
        "photos.title": "Dina bilder",
        "photos.intro": "Det här är bilderna du är med på. Andra personer är suddade; ditt ansikte är markerat.",
        "photos.none": "Ingen bild är kopplad till dig än.",
        "photos.used": "Används för {purpose} på {place} sedan {date}",
        "photos.unused": "Inte publicerad någonstans.",
        "photos.not_this": "Inte den här bilden: {title}",
        "photos.allow_this": "Tillåt den här bilden: {title}",
        "personal.you_allow": "**Du tillåter:** {titles}",
        "personal.you_dont_allow": "**Du tillåter inte:** {titles}",
        "personal.allow_nothing": "**Du tillåter:** ingenting just nu.",
        "personal.next_expiry": "Nästa utgångsdatum: {date} ({title}).",
        "personal.change": "Ändra: {title}",
        "personal.face_matching_form": "Ansiktsmatchning behöver en bild av ditt ansikte: slå på den i "
        "evenemangets formulär.",
        "personal.withdraw_all_ask": "Det här återkallar alla samtycken du har gett. Vi slutar använda bilder på dig "
        "för alla ändamål. Är du säker?",
        "personal.cancel": "Avbryt",
        "personal.guardian_above": "En förälder eller vårdnadshavare måste bekräfta det här. Det steget finns högst "
        "upp på sidan.",
        "personal.stale": "Det här hade redan ändrats (kanske i en annan flik). Sidan visar nu det som är registrerat.",
        "personal.error": "Tyvärr kunde vi inte spara det här. Försök igen; om det fortsätter, kontakta {controller}.",
        "personal.erased_gone": "Uppgifterna bakom den här länken har raderats. Det finns inget kvar att ändra.",
        "personal.used_on": "Används på: {places}",
        "personal.not_used": "Inte publicerad",
        "personal.allowed_of": "tillåten för {allowed} av {total} ändamål",
        "personal.photo_choices": "Val för den här bilden",
        "personal.photo_alt_event": "Bild från {event} den {date} där du är med. Andra personer är suddade.",
        "personal.photo_alt": "Bild från {date} där du är med. Andra personer är suddade.",
        "personal.not_me": "Det är inte jag",
        "personal.not_me_ask": "Är det inte du på bilden? Vi tar bort den från din sida och ber vår personal "
        "kontrollera den.",
        "personal.not_me_confirm": "Ja, det är inte jag",
        "personal.not_me_done": "Tack. Bilden är borttagen från din sida och vår personal kontrollerar den.",
        "personal.not_me_already": "Du har redan sagt till oss att bilden inte visar dig.",
        "personal.not_me_not_linked": "Den här bilden är inte längre kopplad till dig.",
        "personal.receipt_what": "{action}: {titles}",
        "personal.receipts": "Dina kvitton ({count})",
        "personal.receipt_language.en": "på engelska",
        "personal.receipt_language.sv": "på svenska",
        "personal.receipt_this_photo": "{title} (en bild)",
        "personal.rights_more": "Dina uppgifter: ladda ner eller radera dem",
    },
}


def t(key: str, locale: str, **values: object) -> str:
    """The message `key` in `locale` (English if missing), with `values` filled in."""
    text = MESSAGES.get(locale, {}).get(key) or MESSAGES["en"][key]
    return text.format(**values) if values else text


def best_locale(preferred: Sequence[str], offered: Sequence[str] = LOCALES) -> str:
    """The first preferred language that is offered (e.g. from Accept-Language), else English."""
    for tag in preferred:
        base = tag.split(";")[0].strip().split("-")[0].lower()
        if base in offered:
            return base
    return "en"
