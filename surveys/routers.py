"""Every router of the surveys domain, in mounting order."""

from surveys.evaluation.router import router as evaluation
from surveys.forms.router import public as forms_public
from surveys.forms.router import router as forms
from surveys.units.router import router as units
from surveys.voting.hall_router import router as voting_hall
from surveys.voting.paper_router import router as voting_paper
from surveys.voting.router import router as voting

routers = [forms_public, units, forms, voting, voting_hall, voting_paper, evaluation]
