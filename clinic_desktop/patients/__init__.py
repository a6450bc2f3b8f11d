"""The patient directory: the table of patients, the editor, the history, merging, and the medical-alert banner."""

from .medical_alert import MedicalAlertBanner, medical_alert_text
from .merge_dialog import MergePatientsDialog
from .patient_directory_panel import PatientDirectoryPanel
from .patient_editor import PatientEditor
from .patient_history_panel import PatientHistoryPanel
from .patient_table_model import PatientTableModel

__all__ = ["MedicalAlertBanner", "MergePatientsDialog", "PatientDirectoryPanel", "PatientEditor",
           "PatientHistoryPanel", "PatientTableModel", "medical_alert_text"]
