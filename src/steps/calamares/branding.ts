/** The Calamares branding component: /etc/calamares/branding/<id>/branding.desc and its slideshow. */
import type { BuildConfig } from '../../config/schema.js';
import { GENERATED, yamlString } from './yaml.js';

/** The images branding.desc names; the installer step writes placeholders, the branding step the real ones. */
export const CALAMARES_IMAGES = { logo: 'logo.png', welcome: 'welcome.png' } as const;

export function calamaresBrandingDir(config: BuildConfig): string {
  return `etc/calamares/branding/${config.branding.id}`;
}

export function renderBrandingDesc(config: BuildConfig): string {
  const b = config.branding;
  const versioned = [b.productName, b.version].filter(Boolean).join(' ');
  return [
    GENERATED,
    '---',
    `componentName: ${b.id}`,
    'welcomeStyleCalamares: false',
    'welcomeExpandingLogo: true',
    'windowExpanding: normal',
    'windowSize: 800px,560px',
    'windowPlacement: center',
    'sidebar: widget',
    'navigation: widget',
    '',
    'strings:',
    `    productName: ${yamlString(b.productName)}`,
    `    shortProductName: ${yamlString(b.productName)}`,
    `    version: ${yamlString(b.version)}`,
    `    shortVersion: ${yamlString(b.version)}`,
    `    versionedName: ${yamlString(versioned)}`,
    `    shortVersionedName: ${yamlString(versioned)}`,
    `    bootloaderEntryName: ${yamlString(b.productName)}`,
    ...(b.url ? [`    productUrl: ${yamlString(b.url)}`] : []),
    '',
    'images:',
    `    productLogo: ${yamlString(CALAMARES_IMAGES.logo)}`,
    `    productIcon: ${yamlString(CALAMARES_IMAGES.logo)}`,
    `    productWelcome: ${yamlString(CALAMARES_IMAGES.welcome)}`,
    '',
    'slideshow: "show.qml"',
    'slideshowAPI: 2',
    '',
    'style:',
    '    SidebarBackground: "#1b1e20"',
    '    SidebarText: "#ffffff"',
    '    SidebarTextCurrent: "#1b1e20"',
    '    SidebarBackgroundCurrent: "#3daee9"',
    '',
  ].join('\n');
}

/** The slideshow shown while the installation runs: the logo and one line. */
export function renderShowQml(config: BuildConfig): string {
  return [
    '/* Written by ailinux from the profile: the slideshow Calamares shows while it installs. */',
    'import QtQuick 2.0;',
    'import calamares.slideshow 1.0;',
    '',
    'Presentation',
    '{',
    '    id: presentation',
    '',
    '    Slide {',
    '        Image {',
    '            id: logo',
    `            source: ${JSON.stringify(CALAMARES_IMAGES.logo)}`,
    '            width: 200; height: 200',
    '            fillMode: Image.PreserveAspectFit',
    '            anchors.centerIn: parent',
    '        }',
    '        Text {',
    '            anchors.horizontalCenter: logo.horizontalCenter',
    '            anchors.top: logo.bottom',
    '            anchors.topMargin: 20',
    `            text: ${JSON.stringify(`Installing ${config.branding.productName}...`)}`,
    '            horizontalAlignment: Text.Center',
    '        }',
    '    }',
    '',
    '    function onActivate() { }',
    '    function onLeave() { }',
    '}',
    '',
  ].join('\n');
}
