; Inno Setup script: the Windows installer for DentalCare Connect (Inno Setup 6).
; Build it on Windows, after the bundle (docs/INSTALL.md, "Windows"):
;
;   py packaging\build.py
;   "C:\Program Files (x86)\Inno Setup 6\ISCC.exe" /DAppVersion=0.1.0 packaging\windows\dentalcare-connect.iss
;
; Output: dist\installer\DentalCareConnect-<version>-setup.exe. It installs the one-folder build
; (desktop app, bundled server, embedded PostgreSQL) per machine or per user, with Start-menu
; entries; the clinic server as a Windows service is a separate, documented step (install-service.ps1).

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define Root "..\.."
#define Bundle Root + "\dist\clinic-desktop"

[Setup]
AppId={{6C1F7E2A-3B8D-4E55-9A61-0D2C8F4B7A19}
AppName=DentalCare Connect
AppVersion={#AppVersion}
AppVerName=DentalCare Connect {#AppVersion}
AppPublisher=DentalCare
DefaultDirName={autopf}\DentalCare Connect
DefaultGroupName=DentalCare Connect
DisableProgramGroupPage=yes
OutputDir={#Root}\dist\installer
OutputBaseFilename=DentalCareConnect-{#AppVersion}-setup
SetupIconFile={#Root}\build\pyinstaller\icons\dentalcare.ico
UninstallDisplayIcon={app}\DentalCare Connect.exe
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; Front-desk PCs are usually set up by IT (per machine); a chairside PC without admin rights can
; still install for the current user.
PrivilegesRequired=admin
PrivilegesRequiredOverridesAllowed=dialog
CloseApplications=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"

[Files]
Source: "{#Bundle}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
Source: "{#Root}\packaging\clinic-server.toml"; DestDir: "{app}\server"; Flags: ignoreversion
Source: "{#Root}\packaging\windows\install-service.ps1"; DestDir: "{app}\server"; Flags: ignoreversion

[Icons]
Name: "{group}\DentalCare Connect"; Filename: "{app}\DentalCare Connect.exe"
Name: "{group}\DentalCare Connect (demo clinic)"; Filename: "{app}\DentalCare Connect.exe"; Parameters: "--demo"
Name: "{group}\Uninstall DentalCare Connect"; Filename: "{uninstallexe}"
Name: "{autodesktop}\DentalCare Connect"; Filename: "{app}\DentalCare Connect.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\DentalCare Connect.exe"; Description: "{cm:LaunchProgram,DentalCare Connect}"; Flags: nowait postinstall skipifsilent

; Nothing of the user's data is removed on uninstall: the embedded database and the secret live in
; %LOCALAPPDATA%\DentalCareConnect (or the service's data folder) and survive a reinstall.
