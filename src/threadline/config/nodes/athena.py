"""athenahealth EHR nodes: patient search/create/update, appointment create."""

from enum import StrEnum
from typing import Literal

from threadline.config.base import WireModel
from threadline.config.nodes.base import BaseNodeConfig, NodeCategory


class StartEndTimings(WireModel):
    """Opening hours of one day ("HH:MM")."""

    start: str
    end: str


class WorkingHours(WireModel):
    """Opening hours for each weekday."""

    monday: StartEndTimings
    tuesday: StartEndTimings
    wednesday: StartEndTimings
    thursday: StartEndTimings
    friday: StartEndTimings
    saturday: StartEndTimings
    sunday: StartEndTimings


class AthenaUseCase(StrEnum):
    """Use cases an Athena integration is enabled for."""

    APPOINTMENT_SCHEDULING = "appointment_scheduling"
    APPOINTMENT_CANCELLATION = "appointment_cancellation"
    APPOINTMENT_RESCHEDULING = "appointment_rescheduling"
    APPOINTMENT_SCHEDULING_WITH_WAITLIST = "appointment_scheduling_with_waitlist"
    MEDICATION_REFILL = "medication_refill"
    INVOICE_BILLING = "invoice_billing"


class Gender(StrEnum):
    """Patient gender values accepted by Athena."""

    EMPTY = ""
    FEMALE = "Female"
    MALE = "Male"
    NON_BINARY = "Non-binary gender identity"
    OTHER = "Additional gender category or other"
    CHOOSE_NOT_TO_DISCLOSE = "Choose not to disclose"
    GENDERQUEER = "Genderqueer (neither exclusively male nor female)"
    UNKNOWN = "Unknown"


class AthenaNodeBase(BaseNodeConfig):
    """Shared Athena credentials and settings."""

    primary_category: str | None = NodeCategory.ATHENA.value
    secondary_category: str | None = NodeCategory.EHR_INTEGRATIONS.value
    source_id: str | None = None
    department_id: int | None = None
    api_key: str | None = None
    timezone: str | None = "America/New_York"
    reminders: bool | None = False
    slotfill_outreach: bool | None = False
    working_hours: WorkingHours | None = None
    use_cases: list[AthenaUseCase] = []


class AthenaPatientsSearchNodeConfig(AthenaNodeBase):
    """Search patients by phone, name and birthdate."""

    type: Literal["athena_patients_search"] = "athena_patients_search"
    phone_number: str | None = None
    full_name: str | None = None
    birthdate: str | None = None


class AthenaPatientsCreateNodeConfig(AthenaNodeBase):
    """Create a patient."""

    type: Literal["athena_patients_create"] = "athena_patients_create"
    first_name: str | None = None
    last_name: str | None = None
    phone_number: str | None = None
    birthdate: str | None = None
    gender: Gender | None = Gender.MALE
    email: str | None = None
    notes: str | None = None
    mobile_number: str | None = None


class AthenaPatientsUpdateNodeConfig(AthenaNodeBase):
    """Update a patient."""

    type: Literal["athena_patients_update"] = "athena_patients_update"
    patient_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone_number: str | None = None
    birthdate: str | None = None
    gender: Gender | None = Gender.MALE
    email: str | None = None
    notes: str | None = None
    notes_action: Literal["append", "replace"] = "append"
    mobile_number: str | None = None


class AthenaAppointmentsCreateNodeConfig(AthenaNodeBase):
    """Book an appointment."""

    type: Literal["athena_appointments_create"] = "athena_appointments_create"
    title: str | None = None
    patient_id: str | None = None
    practitioner_id: str | None = None
    start_time: str | None = None
    duration_in_minutes: int | None = 15
