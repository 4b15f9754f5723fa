#!/usr/bin/env python3
"""A synthetic school district for the pssync benchmark.

    python3 bench/generate.py [--students N] [--users N] [--seed S] [--out DIR]

Writes into DIR (default bench/out/district):
  schools.tsv students.tsv users.tsv schoolstaff.tsv
      PowerSchool's tables (test/fixtures/powerschool_schema.sql), in COPY's
      text format;
  directory.ldif
      the directory for slapadd: the base entries, the service account of
      test/fixtures/directory.ldif, students under ou=Students (graduates in
      ou=Graduated,ou=Students), staff under ou=Staff;
  expected_students.tsv
      per student: dcid, the status a dry run of
      ldap_sync_district('students') should give, and student_web_id after
      a real run;
  summary.json
      the sizes, the counts of each kind of record, and the expected status
      counts.

The same seed gives the same files.  The distributions are those of a real
district, with its awkward cases:
  - surnames drawn from a long-tailed (Zipf) distribution, so that the most
    common ones are shared by thousands of people and a last-name search
    returns many entries; a tail of rare surnames;
  - names with accents and other non-ASCII letters (é, ñ, ø, ß, Ł, ı),
    Chinese and Vietnamese names, Greek and Cyrillic ones, apostrophes,
    hyphens, two-word first names and surnames with spaces;
  - no two people with the same first and last name (compared ignoring
    case and accents), except on purpose:
      ambiguous  a second directory entry with the same names,
      missing    no directory entry (a last-name search finds others of
                 the surname, or nobody for a rare one),
      renamed    the directory knows another first name (a nickname),
      no uid     the entry has no uid,
      case       PowerSchool has the names in other case or with stray
                 white space;
  - usernames: 60% blank, 30% correct, 10% different (another case, or an
    old username); a few conflicts (the directory's uid is held by another
    student).
"""
import argparse
import base64
import bisect
import collections
import json
import os
import random
import sys
import time
import unicodedata

# --------------------------------------------------------------------------
# name pools

COMMON_SURNAMES = """
Smith Johnson Williams Brown Jones García Miller Davis Rodríguez Martínez
Hernández López González Wilson Anderson Thomas Taylor Moore Jackson Martin
Lee Pérez Thompson White Harris Sánchez Clark Ramírez Lewis Robinson Walker
Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson
Baker Hall Rivera Campbell Mitchell Carter Roberts Gómez Phillips Evans
Turner Díaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy
Cook Rogers Gutiérrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard
Ramos Kim Cox Ward Richardson Watson Brooks Chávez Wood James Bennett Gray
Mendoza Ruiz Hughes Price Álvarez Castillo Sanders Patel Myers Long Ross
Foster Jiménez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler
Henderson Barnes Gonzales Fisher Vásquez Simmons Romero Jordan Patterson
Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes
Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro
Marshall Owens Harrison Fernández McDonald Woods Washington Kennedy Wells
Vargas Henry Chen Freeman Webb Tucker Guzmán Burns Crawford Olson Simpson
Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Muñoz Hunt Hicks
Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren
Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver
Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce Vázquez
Hansen Peters Santos Hart Bradley Knight Elliott Cunningham Duncan Armstrong
Hudson Carroll Lane Riley Andrews Alvarado Ray Delgado Berry Perkins Hoffman
Johnston Matthews Peña Richards Contreras Willis Carpenter Lawrence Sandoval
Guerrero George Chapman Rios Estrada Ortega Watkins Greene Núñez Wheeler
Valdez Harper Burke Larson Santiago Maldonado Morrison Franklin Carlson
Austin Dominguez Carr Lawson Jacobs O'Brien Lynch Singh Vega Bishop
Montgomery Oliver Jensen Harvey Williamson Gilbert Dean Sims Espinoza Howell
Li Wong Reid Hanson Le McCoy Garrett Burton Fuller Wang Weber Welch Rojas
Lucas Márquez Fields Park Yang Little Banks Padilla Day Walsh Bowman Schultz
Luna Fowler Mejía Davidson Acosta Brewer May Holland Juárez Newman Pearson
Curtis Cortez Douglas Schneider Joseph Barrett Navarro Figueroa Keller Ávila
Wade Molina Stanley Hopkins Campos Barnett Bates Chambers Caldwell Beck
Lambert Miranda Byrd Craig Ayala Lowe Frazier Powers Neal Leonard Gregory
Carrillo Sutton Fleming Rhodes Shelton Schwartz Norris Jennings Watts Duran
Walters Cohen McDaniel Moran Parks Steele Vaughn Becker Holt DeLeon Barker
Terry Hale León Hail Benson Haynes Horton Miles Lyons Pham Graves Bush
Thornton Wolfe Warner Cabrera McKinney Mann Zimmerman Dawson Lara Fletcher
Page McCarthy Love Robles Cervantes Solís Erickson Reeves Chang Klein Salinas
Fuentes Baldwin Daniel Simon Velásquez Hardy Higgins Aguirre Lin Cummings
Chandler Sharp Barber Bowen Ochoa Dennis Robbins Liu Ramsey Francis Griffith
Paul Blair O'Connor Cardenas Pacheco Cross Calderón Quinn Moss Swanson Chan
Rivas Khan Rodgers Serrano Fitzgerald Rosales Stevenson Christensen Manning
Gill Curry McLaughlin Harmon McGee Gross Doyle Garner Newton Burgess Reese
Walton Blake Trujillo Adkins Brady Goodman Roman Webster Goodwin Fischer
Huang Potter Delacruz Montoya Todd Wu Hines Mullins Castañeda Malone Cannon
Tate Mack Sherman Hubbard Hodges Zhang Guerra Wolf Valencia Saunders Franco
Rowe Gallagher Farmer Hammond Hampton Townsend Ingram Wise Gallegos Clarke
Barton Schroeder Maxwell Waters Logan Camacho Strickland Norman Person
Colón Parsons Frank Harrington Glover Osborne Buchanan Casey Floyd Patton
Ibarra Ball Tyler Suárez Bowers Orozco Salas Cobb Gibbs Andrade Bauer Conner
Moody Escobar McGuire Lloyd Mueller Hartman French Kramer McBride Pope
Lindsey Velázquez Norton McCormick Sparks Flynn Yates Hogan Marsh Macías
Villanueva Zamora Pratt Stokes Owen Ballard Lang Brock Villarreal Charles
Drake Barrera Cain Patrick Piñeda Burnett Mercado Santana Shepherd Bautista
Ali Shaffer Lamb Trevino McKenzie Hess Beil Olsen Cochran Morton Nash Wilkins
Petersen Briggs Shah Roth Nicholson Holloway Lozano Rangel Flowers Hoover
Short Arias Mora Valenzuela Bryan Meyers Weiss Underwood Bass Greer Summers
Houston Carson Morrow Clayton Whitaker Decker Yoder Collier Zuniga Carey
Wilcox Melendez Poole Roberson Larsen Conley Davenport Copeland Massey Lam
Huff Rocha Cameron Jefferson Hood Monroe Anthony Pittman Huynh Randall
Singleton Kirk Combs Mathis Christian Skinner Bradford Richard Galván Wall
Boone Kirby Wilkinson Bridges Bruce Atkinson Velez Meza Roy Vincent York
Hodge Villa Abbott Allison Tapia Gates Chase Sosa Sweeney Farrell Wyatt
Dalton Horn Barron Phelps Yu Dickerson Heath Foley Atkins Mathews Bonilla
Acevedo Benítez Zavala Hensley Glenn Cisneros Harrell Shields Rubio Choi
Huffman Boyer Garrison Arroyo Bond Kane Hancock Callahan Dillon Cline Wiggins
Grimes Arellano Melton O'Neill Savage Ho Beltrán Pitts Parrish Ponce Rich
Booth Koch Golden Ware Brennan McDowell Marks Cantu Humphrey Baxter Sawyer
Clay Tanner Hutchinson Kaur Berg Wiley Gilmore Russo Villegas Hobbs Keith
Wilkerson Ahmed Beard McClain Montes Mata Rosario Vang Walter Henson O'Neal
Mosley McClure Beasley Stephenson Snow Huerta Preston Vance Barry Johns Eaton
Blackwell Dyer Prince Macdonald Solomon Guevara Stafford English Hurst
Woodard Cortés Shannon Kemp Nolan McCullough Merritt Murillo Moon Salgado
Strong Kline Cordova Barajas Roach Rosas Winters Jacobson Lester Knox Bullock
Kerr Leach Meadows Orr Davila Whitehead Pruitt Kent Conway McKee Barr David
Dejesus Marín Berger McIntyre Blankenship Gaines Palacios Cuevas Bartlett
Durham Dorsey McCall O'Donnell Stein Browning Stout Lowery Sloan McLean
Hendricks Calhoun Sexton Chung Gentry Hull Duarte Ellison Nielsen Gillespie
Buck Middleton Sellers Leblanc Esparza Hardin Bradshaw McIntosh Howe
Livingston Frost Glass Morse Knapp Herman Stark Bravo Noble Spears Weeks
Corona Frederick Buckley McFarland Hebert Enríquez Hickman Quintero Randolph
Schaefer Walls Trejo House Reilly Pennington Michael Conrad Giles Benjamin
Crosby Fitzpatrick Donovan Mays Mahoney Valentine Raymond Medrano Hahn
McMillan Small Bentley Felix Peck Lucero Boyle Hanna Pace Rush Hurley Harding
McConnell Bernal Nava Ayers Everett Ventura Avery Pugh Mayer Bender Shepard
McMahon Landry Case Sampson Moses Magana Blackburn Dunlap Gould Duffy Vaughan
Herring McKay Espinosa Rivers Farley Bernard Ashley Friedman Potts Truong
Costa Correa Blevins Nixon Clements Fry Delarosa Best Benton Lugo Portillo
Dougherty Crane Haley Phan Villalobos Blanchard Horne Finley Quintana Lynn
Esquivel Bean Dodson Mullen Xiong Hayden Cano Levy Huber Richmond Moyer Lim
Frye Sheppard McCarty Avila Kowalski Nowak Wiśniewski Wójcik Kowalczyk
Kamiński Lewandowski Zieliński Szymański Woźniak Dąbrowski Kozłowski
Łukasiewicz Wałęsa Müller Schäfer Krüger Köhler Jäger Groß Weiß Strauß
Hoß Fußmann Çelik Yılmaz Şahin Öztürk Aydın Østergaard Jørgensen Sørensen
Håkansson Ødegård Lindström Nyström Åberg Björk Ó_Súilleabháin
Ní_Bhriain D'Angelo D'Amico DiMaggio O'Reilly O'Sullivan McNamara MacLeod
MacKenzie Van_der_Berg Van_Buren De_la_Cruz Del_Rosario De_Souza Da_Silva
Dos_Santos St._John Smith-Jones Watson-Parker Garcia-Lopez Lloyd-Webber
Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý
王 李 张 刘 陈 杨 黄 赵 吴 周 徐 孙 马 朱 胡 郭 何 高 林 罗
Παπαδόπουλος Γεωργίου Οικονόμου Иванов Смирнов Кузнецов Попов Петров
Kuznetsov Ivanova Petrov Novak Horvat Dvořák Svoboda Procházka Černý
Nakamura Tanaka Suzuki Watanabe Takahashi Sato Yamamoto Kobayashi Kato
Okafor Adeyemi Okonkwo Mensah Boateng Abubakar Diallo Traoré Ndiaye Kamara
Haddad Khoury Nassar Mansour Aziz Hussein Rahman Chowdhury Gupta Sharma
Reddy Iyer Nair Menon Pillai Desai Mehta Joshi Kulkarni Bhat
Kealoha Kahananui Tsosie Begay Yazzie Benally
"""

GIVEN_NAMES = """
Liam Noah Oliver Elijah James William Benjamin Lucas Henry Theodore Jack Levi
Alexander Jackson Mateo Daniel Michael Mason Sebastian Ethan Logan Owen
Samuel Jacob Asher Aiden John Joseph Wyatt David Leo Luke Julian Hudson
Grayson Matthew Ezra Gabriel Carter Isaac Jayden Luca Anthony Dylan Lincoln
Thomas Maverick Elias Josiah Charles Caleb Christopher Ezekiel Miles Jaxon
Isaiah Andrew Joshua Nathan Nolan Adrian Cameron Santiago Eli Aaron Ryan
Angel Cooper Waylon Easton Kai Christian Landon Colton Roman Axel Brooks
Jonathan Robert Jameson Ian Everett Greyson Wesley Jeremiah Hunter Leonardo
Jordan Jose Bennett Silas Nicholas Parker Beau Weston Austin Connor Carson
Dominic Xavier Jaxson Jace Emmett Adam Declan Rowan Micah Kayden Gael River
Ryder Kingston Damian Sawyer Luka Evan Vincent Legend Myles Harrison August
Bryson Amir Giovanni Chase Diego Milo Jasper Walker Jason Brayden Cole
Nathaniel George Lorenzo Zion Luis Archer Enzo Jonah Thiago Theo Ayden Zachary
Calvin Braxton Ashton Rhett Atlas Jude Bentley Carlos Ryker Adriel Arthur
Olivia Emma Charlotte Amelia Sophia Isabella Ava Mia Evelyn Luna Harper
Camila Sofia Scarlett Elizabeth Eleanor Emily Chloe Mila Violet Penelope
Gianna Aria Abigail Ella Avery Hazel Nora Layla Lily Aurora Nova Ellie
Madison Grace Isla Willow Zoey Riley Stella Victoria Hannah Addison Leah
Lucy Eliana Ivy Everly Lillian Paisley Elena Naomi Maya Natalie Kinsley
Delilah Claire Audrey Aaliyah Ruby Brooklyn Alice Aubrey Autumn Leilani
Savannah Valentina Kennedy Madelyn Josephine Bella Skylar Genesis Sophie
Hailey Sadie Natalia Quinn Caroline Allison Gabriella Anna Serenity Nevaeh
Cora Ariana Emery Lydia Jade Sarah Eva Adeline Madeline Piper Rylee Athena
Peyton Everleigh Vivian Clara Raelynn Liliana Samantha Maria Iris Ayla
Eloise Lyla Eliza Hadley Melody Julia Parker Rose Isabelle Brielle Adalynn
Arya Eden Remi Mackenzie Maeve Margaret Reagan Charlie Alaina Katherine
Esther Josephine Catherine Margarita Mariana Ximena Lucía Martina Valeria
Renata Regina Fernanda Daniela Andrea Paula Carmen Dolores Guadalupe
José Juan María Ana Chloé Zoë Renée André Noémie Élodie Hélène Béatrice
Zoé Inès Léa Maëlle Anaïs Agnès Gaël Jérôme Frédéric Stéphane Benoît Loïc
Søren Bjørn Åsa Øystein Ingrid Sigrid Jürgen Björn Jörg Günther Käthe
Małgorzata Łucja Zofia Wojciech Grzegorz Paweł Jędrzej Bartłomiej Agnieszka
Ñeco Iñaki Begoña Iñigo Núria Íñigo Joaquín Ramón Andrés Sebastián Matías
Tomás Nicolás Martín Julián Valentín Adrián Germán Rubén Raúl Óscar Ángel
Sinéad Siobhán Aoife Caoimhe Niamh Saoirse Eoin Oisín Ciarán Pádraig Seán
Dmitri Anastasia Ekaterina Natalya Yuri Olga Svetlana Mikhail Ксения Дмитрий
Ηλίας Ελένη Γιώργος Σοφία Nikolaos Eleni Dimitrios Konstantina
Aarav Vihaan Aditya Arjun Sai Ananya Diya Priya Saanvi Aadhya Ishaan Rohan
Kavya Meera Nikhil Pooja Rahul Sneha Tanvi Vikram Yash Zara Aisha Fatima
Omar Yusuf Ibrahim Mariam Layla Hamza Khadija Amina Zainab Ahmed Mustafa
Chidi Ngozi Emeka Adaeze Kwame Ama Kofi Abena Yaw Akosua Oluwaseun Temitope
Hiroshi Yuki Haruto Sakura Yui Sota Aoi Ren Hina Kenji Takumi Miyu
Minh Linh Huong Thao Duc Quang Anh Tuan Hoa Mai Lan Phuong Trang Khanh
Jin Min-jun Seo-yeon Ji-woo Ha-eun Do-yun Eun-ji Hyun-woo Ye-jin
D'Andre D'Angelo De'Shawn Ja'Nya O'Shea Mary-Jane Anne-Marie Jean-Luc
Jean-Baptiste Marie-Claire Ana-Sofía Juan-Pablo
Mary Patricia Jennifer Linda Barbara Susan Jessica Karen Nancy Betty
Sandra Ashley Kimberly Donna Michelle Carol Amanda Melissa Deborah Stephanie
Rebecca Sharon Laura Cynthia Kathleen Amy Angela Shirley Brenda Pamela
Nicole Helen Kathryn Christine Debra Rachel Carolyn Janet Heather Diane
Richard Kenneth Kevin Brian Timothy Ronald Jeffrey Gary Eric Stephen Larry
Justin Scott Brandon Gregory Frank Raymond Patrick Jerry Dennis Tyler Walter
Peter Harold Douglas Arthur Terry Sean Albert Joe Jesse Bruce Billy Gerald
Keith Roger Ralph Lawrence Bobby Russell Louis Philip Johnny Randy Howard
"""

CHINESE_GIVEN = """
伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀英 霞 平 刚 桂英 建华
文 华 红 玉兰 建国 志强 俊杰 子涵 欣怡 梓涵 浩然 宇轩 雨涵 一诺 思远 子轩
梦琪 诗涵 博文 晨曦 嘉怡 天佑 佳琪 宇航 俊熙 浩宇 雅琪 若汐 依诺 家豪 紫萱
""".split()

NICKNAMES = {
    "William": "Bill", "Robert": "Bob", "Richard": "Dick", "James": "Jim",
    "Katherine": "Kate", "Elizabeth": "Liz", "Margaret": "Maggie",
    "Alexander": "Alex", "Christopher": "Chris", "Michael": "Mike",
    "Jonathan": "Jon", "Nicholas": "Nick", "Matthew": "Matt", "Daniel": "Dan",
    "Samantha": "Sam", "Victoria": "Vicky", "Jennifer": "Jen",
    "Benjamin": "Ben", "Anthony": "Tony", "Joseph": "Joe", "Thomas": "Tom",
    "Zachary": "Zach", "Abigail": "Abby", "Gabriella": "Gabby",
    "Theodore": "Teddy", "Frederick": "Fred", "Timothy": "Tim",
}

SYLLABLES = ("ka ri mo le ta ven dor sel bra nik ul fa gro pen tis mar "
             "wyn cor hal bel dra kes lom nor quin ros tav ulm vor zel").split()


def fold(s):
    """How the benchmark compares names: white space collapsed, accents
    dropped, case folded.  At least as coarse as the directory's
    caseIgnoreMatch, so that names distinct here are distinct there."""
    s = " ".join(s.split())
    s = unicodedata.normalize("NFKD", s)
    s = "".join(c for c in s if not unicodedata.combining(c))
    return s.casefold()


TRANSLIT = str.maketrans({"ß": "ss", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L",
                          "đ": "d", "Đ": "D", "ı": "i", "æ": "ae", "Æ": "AE",
                          "œ": "oe", "Œ": "OE"})


def ascii_form(s):
    """A Latin-script name as written without its accents."""
    s = unicodedata.normalize("NFKD", s.translate(TRANSLIT))
    return "".join(c for c in s if not unicodedata.combining(c))


def spelled(words, rng, keep):
    """Each accented Latin name spelled one way in the whole district: as
    it is with probability keep, else without its accents."""
    out = []
    for w in words:
        if script(w) == "latin" and not w.isascii() and rng.random() >= keep:
            w = ascii_form(w)
        out.append(w)
    return dedupe(out)


def script(s):
    """latin, han, cyrillic or greek: by the first letter."""
    c = s[0]
    if "\u4e00" <= c <= "\u9fff":
        return "han"
    if "\u0400" <= c <= "\u04ff":
        return "cyrillic"
    if "\u0370" <= c <= "\u03ff":
        return "greek"
    return "latin"


def ascii_letters(s):
    s = unicodedata.normalize("NFKD", s)
    return "".join(c for c in s.lower() if "a" <= c <= "z")


def upper_keep(s):
    """Upper case, but no letter that would change length (ß stays ß)."""
    return "".join(c.upper() if len(c.upper()) == 1 else c for c in s)


def same_lower(a, b):
    """Equal when each letter is lower-cased on its own, as a directory's
    case-insensitive match does (no context, no final sigma)."""
    return "".join(c.lower() for c in a) == "".join(c.lower() for c in b)


def dedupe(words):
    seen = set()
    out = []
    for w in words:
        k = fold(w)
        if k not in seen:
            seen.add(k)
            out.append(w)
    return out


def surname_pool(rng, tail_size, keep_accents):
    """The surnames with their weights: the common ones Zipf-like, then a
    tail of rare made-up ones."""
    # multi-word surnames are written with "_" in the list
    common = spelled([w.replace("_", " ") for w in COMMON_SURNAMES.split()],
                     rng, keep_accents)
    rest = common[200:]
    rng.shuffle(rest)  # keep the very common ones on top
    common = common[:200] + rest
    seen = set(fold(w) for w in common)
    tail = []
    while len(tail) < tail_size:
        n = rng.choice((2, 3, 3, 4))
        w = "".join(rng.choice(SYLLABLES) for _ in range(n)).capitalize()
        if fold(w) not in seen:
            seen.add(fold(w))
            tail.append(w)
    return common, tail


# --------------------------------------------------------------------------
# output helpers

def copy_field(v):
    if v is None:
        return "\\N"
    if isinstance(v, str):
        return (v.replace("\\", "\\\\").replace("\t", "\\t")
                .replace("\n", "\\n").replace("\r", "\\r"))
    return str(v)


def write_copy(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join("\t".join(copy_field(v) for v in row) + "\n" for row in rows))


def ldif_line(attr, value):
    """attr: value, or attr:: base64 where LDIF's SAFE-STRING does not
    allow the value as it is."""
    safe = (value != "" and value.isascii() and value[0] not in " :<" and
            value[-1] != " " and "\n" not in value and "\r" not in value and
            "\0" not in value)
    if safe:
        return "%s: %s\n" % (attr, value)
    return "%s:: %s\n" % (attr, base64.b64encode(value.encode("utf-8")).decode("ascii"))


def dn_value(v):
    """An attribute value escaped for a DN (RFC 4514)."""
    out = []
    for i, c in enumerate(v):
        if c in ',+"\\<>;=' or (c == "#" and i == 0) or (c == " " and (i == 0 or i == len(v) - 1)):
            out.append("\\" + c)
        else:
            out.append(c)
    return "".join(out)


def entry(dn, given, sn, uid, number):
    lines = [ldif_line("dn", dn), "objectClass: inetOrgPerson\n"]
    lines.append(ldif_line("cn", given + " " + sn))
    lines.append(ldif_line("sn", sn))
    lines.append(ldif_line("givenName", given))
    if uid is not None:
        lines.append(ldif_line("uid", uid))
    if number is not None:
        lines.append("employeeNumber: %s\n" % number)
    return "".join(lines) + "\n"


BASE_LDIF = """dn: dc=district,dc=org
objectClass: dcObject
objectClass: organization
dc: district
o: Benchmark School District

dn: ou=Students,dc=district,dc=org
objectClass: organizationalUnit
ou: Students

dn: ou=Graduated,ou=Students,dc=district,dc=org
objectClass: organizationalUnit
ou: Graduated

dn: ou=Staff,dc=district,dc=org
objectClass: organizationalUnit
ou: Staff

dn: ou=Services,dc=district,dc=org
objectClass: organizationalUnit
ou: Services

dn: cn=pssync,ou=Services,dc=district,dc=org
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: pssync
description: service account of the PowerSchool sync
userPassword: %s

"""


# --------------------------------------------------------------------------
# the district

class Names:
    """Draws (first, last) pairs that nobody else has (compared by fold)."""

    def __init__(self, rng, n_people, keep_accents):
        self.rng = rng
        self.common, self.tail = surname_pool(rng, max(2000, n_people // 5), keep_accents)
        # Zipf weights over the common surnames: the top one gets ~2.5%
        # of everyone, the top 20 are shared by more than a thousand each
        # at 100,000 people.
        weights = [1.0 / (r + 5) for r in range(len(self.common))]
        total = sum(weights)
        acc = 0.0
        self.cum = []
        for w in weights:
            acc += w / total
            self.cum.append(acc)
        self.given_by_script = collections.defaultdict(list)
        for g in spelled(GIVEN_NAMES.split(), rng, keep_accents):
            self.given_by_script[script(g)].append(g)
        self.used = set()       # fold keys of (first, last) pairs in use

    def surname(self):
        rng = self.rng
        if rng.random() < 0.78:
            return self.common[min(bisect.bisect_left(self.cum, rng.random()),
                                   len(self.common) - 1)]
        return rng.choice(self.tail)

    def unique_surname(self):
        """A surname nobody else has (for "no match")."""
        if not hasattr(self, "_taken_surnames"):
            self._taken_surnames = set(fold(t) for t in self.tail) | set(fold(c) for c in self.common)
        while True:
            n = self.rng.choice((4, 5))
            w = "".join(self.rng.choice(SYLLABLES) for _ in range(n)).capitalize()
            k = fold(w)
            if k not in self._taken_surnames:
                self._taken_surnames.add(k)
                return w

    def first_for(self, surname, compound=False):
        """A first name of the surname's script."""
        rng = self.rng
        sc = script(surname)
        if sc == "han":
            g = rng.choice(CHINESE_GIVEN)
            if compound:
                g = g + rng.choice(CHINESE_GIVEN)
            return g
        pool = self.given_by_script["latin"]
        if sc in self.given_by_script and rng.random() < 0.5 and not compound:
            pool = self.given_by_script[sc]
        g = rng.choice(pool)
        if compound:
            sep = rng.choice((" ", " ", "-"))
            g = g + sep + rng.choice(pool)
        return g

    def key(self, first, last):
        return (fold(first), fold(last))

    def pair(self, surname=None):
        """A (first, last) pair not yet in use; it is taken."""
        last = surname or self.surname()
        for attempt in range(50):
            first = self.first_for(last, compound=attempt >= 3)
            k = self.key(first, last)
            if k not in self.used:
                self.used.add(k)
                return first, last
            if attempt == 20 and surname is None:
                last = self.surname()
        raise RuntimeError("could not find a unique name for surname %r" % last)

    def take(self, first, last):
        k = self.key(first, last)
        if k in self.used:
            return False
        self.used.add(k)
        return True


def make_uid(first, last, number, prefix=""):
    base = (ascii_letters(first)[:1] + ascii_letters(last))[:13]
    if not base:
        base = "s"
    return "%s%s%d" % (prefix, base, number)


def generate(args):
    rng = random.Random(args.seed)
    n_students = args.students
    n_users = args.users
    names = Names(rng, n_students + n_users, args.accents / 100.0)
    suffix = "dc=district,dc=org"

    # ---- schools
    n_schools = max(2, min(200, n_students // 700))
    schools = [(100 + i, "%s %s" % (rng.choice(names.common[:150]),
                                    ("Elementary", "Middle School", "High School")[i % 3]))
               for i in range(n_schools)]
    school_numbers = [s[0] for s in schools]

    # ---- students: what each one is
    kinds = ["match"] * n_students
    idx = list(range(n_students))
    rng.shuffle(idx)
    pos = 0

    def pick(fraction, kind):
        nonlocal pos
        k = int(round(n_students * fraction))
        for i in idx[pos:pos + k]:
            kinds[i] = kind
        pos += k

    pick(args.missing / 100.0 * 2 / 3, "missing")        # partial: surname known
    pick(args.missing / 100.0 / 3, "missing_rare")        # no_match
    pick(args.ambiguous / 100.0, "ambiguous")
    pick(args.renamed / 100.0, "renamed")
    pick(args.no_uid / 100.0, "no_uid")
    pick(0.03, "case")
    pick(0.005, "spaces")

    students = []           # [dcid, id, number, school, grade, status, first, last, web_id]
    entries = []            # LDIF text pieces
    dir_student_sn = collections.Counter()   # fold(sn) -> entries under ou=Students
    info = []               # per student: (kind, uid or None, dn or None)
    shadow_no = 0

    for i in range(n_students):
        kind = kinds[i]
        dcid = 10001 + i
        number = 300001 + i
        grade = rng.randint(0, 12)
        status = 0
        r = rng.random()
        if r < 0.04:
            status = 3      # graduated
        elif r < 0.08:
            status = 2      # transferred out
        if kind == "missing_rare":
            first, last = names.pair(names.unique_surname())
        else:
            first, last = names.pair()
        dir_first, dir_last = first, last
        ps_first, ps_last = first, last
        uid = make_uid(first, last, number)
        ou = "ou=Graduated,ou=Students" if status == 3 else "ou=Students"
        dn = "uid=%s,%s,%s" % (uid, ou, suffix)

        if kind == "renamed":
            nick = NICKNAMES.get(first)
            for _ in range(20):
                alt = nick or names.first_for(last)
                if names.take(alt, last):
                    dir_first = alt
                    break
                nick = None
            else:
                kind = "match"
        if kind == "case":
            if not (same_lower(upper_keep(first), first) and same_lower(upper_keep(last), last)):
                # upper case would not come back by lower-casing each letter
                # (Greek final sigma): directories disagree on those
                ps_first, ps_last = first.lower(), last.lower()
            elif rng.random() < 0.5:
                ps_first, ps_last = upper_keep(first), upper_keep(last)
            else:
                ps_first, ps_last = first.lower(), last.lower()
                if rng.random() < 0.5:
                    dir_first, dir_last = upper_keep(first), upper_keep(last)
                    ps_first, ps_last = first, last
        if kind == "spaces":
            ps_first = "  " + first + " "
            ps_last = last.replace(" ", "   ") + "  "

        has_entry = kind not in ("missing", "missing_rare")
        if has_entry:
            if kind == "no_uid":
                uid = None
                dn = "employeeNumber=%d,%s,%s" % (number, ou, suffix)
            entries.append(entry(dn, dir_first, dir_last, uid, number))
            dir_student_sn[fold(dir_last)] += 1
        else:
            uid = None
            dn = None
        if kind == "ambiguous":
            shadow_no += 1
            suid = make_uid(first, last, 900000 + shadow_no)
            entries.append(entry("uid=%s,ou=Graduated,ou=Students,%s" % (suid, suffix),
                                 dir_first, dir_last, suid, 900000 + shadow_no))
            dir_student_sn[fold(dir_last)] += 1
        students.append([dcid, i + 1, number, rng.choice(school_numbers), grade, status,
                         ps_first, ps_last, None])
        info.append((kind, uid))

    # ---- student usernames: 60% blank, 30% correct, 10% different
    web_ids = set()
    for i, row in enumerate(students):
        kind, uid = info[i]
        r = rng.random()
        value = None
        if r < args.blank / 100.0:
            value = None
        elif r < (args.blank + args.correct) / 100.0:
            value = uid if uid else "legacy%d" % row[2]
        else:
            if uid and rng.random() < 0.4:
                value = uid[0].upper() + uid[1:]     # case counts
            elif uid:
                value = uid + "_old"
            else:
                value = "old%d" % row[2]
        row[8] = value
        if value is not None:
            web_ids.add(value)
    # a blank is NULL but for one '' and one of spaces (the column is unique)
    blanks = [row for row in students if row[8] is None]
    if len(blanks) > 2:
        blanks[0][8] = ""
        blanks[1][8] = "   "

    # conflicts: a student holds (as an old username) the uid the directory
    # gives another, blank, student
    n_conflicts = int(round(n_students * args.conflicts / 100.0))
    holders = [i for i, r in enumerate(students)
               if info[i][0] == "match" and r[8] is not None and r[8] != info[i][1]
               and r[8].endswith("_old")]
    wanters = [i for i, r in enumerate(students)
               if info[i][0] == "match" and (r[8] is None or r[8].strip() == "")]
    rng.shuffle(holders)
    rng.shuffle(wanters)
    for h, w in zip(holders[:n_conflicts], wanters[:n_conflicts]):
        web_ids.discard(students[h][8])
        students[h][8] = info[w][1]

    # ---- expected results of ldap_sync_district('students')
    held = collections.Counter(r[8] for r in students if r[8] is not None)
    expected = []
    status_counts = collections.Counter()
    partial_candidates = 0
    for i, row in enumerate(students):
        kind, uid = info[i]
        cur = row[8]
        final = cur
        if kind in ("missing", "missing_rare", "renamed"):
            n = dir_student_sn.get(fold(row[7]), 0)
            st = "partial" if n else "no_match"
            partial_candidates += n
        elif kind == "ambiguous":
            st = "ambiguous"
        elif kind == "no_uid":
            st = "no_uid"
        elif cur == uid:
            st = "unchanged"
        elif held.get(uid, 0) > 0:
            st = "conflict"
        else:
            st = "would_update"
            final = uid
        status_counts[st] += 1
        expected.append((row[0], st, final))

    # ---- users and schoolstaff
    users = []
    schoolstaff = []
    staff_entries = []
    loginids = set()
    ss_dcid = 50001
    for j in range(n_users):
        dcid = 20001 + j
        number = 700001 + j
        first, last = names.pair()
        teacher = rng.random() < 0.5
        psaccess = 1 if rng.random() < (0.3 if teacher else 0.15) else 0
        home = rng.choice(school_numbers)
        r = rng.random()
        kind = "match"
        if r < 0.03:
            kind = "missing"
        elif r < 0.04:
            kind = "ambiguous"
        elif r < 0.05:
            kind = "no_uid"
        uid = make_uid(first, last, number, prefix="t." if teacher else "a.")
        if kind != "missing":
            dn = ("uid=%s,ou=Staff,%s" % (uid, suffix) if kind != "no_uid" else
                  "employeeNumber=%d,ou=Staff,%s" % (number, suffix))
            staff_entries.append(entry(dn, first, last, None if kind == "no_uid" else uid, number))
        if kind == "ambiguous":
            suid = make_uid(first, last, number + 50000, prefix="x.")
            staff_entries.append(entry("uid=%s,ou=Staff,%s" % (suid, suffix), first, last,
                                       suid, number + 50000))

        def username():
            r = rng.random()
            if r < args.blank / 100.0:
                return None
            if r < (args.blank + args.correct) / 100.0 and kind == "match":
                return uid
            return uid + "_old" if rng.random() < 0.5 else uid.upper()

        teacherloginid = username() if teacher else None
        loginid = username() if (psaccess or not teacher) else None
        users.append([dcid, home, ("T%05d" % j) if teacher else None, first, last,
                      "%s@district.org" % uid, loginid, teacherloginid, psaccess,
                      1 if teacher else 0])
        # schoolstaff: a teacher has a current row with staffstatus 1
        if teacher:
            schoolstaff.append([ss_dcid, dcid, home, 1, 1])
        else:
            schoolstaff.append([ss_dcid, dcid, home, rng.choice((0, 2, 2, 2, 3, 4)), 1])
        ss_dcid += 1
        if rng.random() < 0.1:
            other = rng.choice(school_numbers)
            schoolstaff.append([ss_dcid, dcid, other, rng.choice((1, 2)),
                                rng.choice((1, 1, 2))])
            ss_dcid += 1
    # loginid and teacherloginid are unique: the blanks are NULL
    # (they are by construction: values derive from unique uids)

    return {
        "schools": schools,
        "students": students,
        "users": users,
        "schoolstaff": schoolstaff,
        "entries": entries,
        "staff_entries": staff_entries,
        "expected": expected,
        "status_counts": status_counts,
        "kinds": collections.Counter(info_kind for info_kind, _ in info),
        "partial_candidates": partial_candidates,
        "dir_student_sn": dir_student_sn,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--students", type=int, default=100000)
    ap.add_argument("--users", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "out", "district"))
    ap.add_argument("--password", default=os.environ.get("PSSYNC_LDAP_PASSWORD",
                                                         "pssync-test-secret"),
                    help="userPassword of the service account")
    # percentages of students
    ap.add_argument("--missing", type=float, default=3.0,
                    help="%% of students without a directory entry (default 3)")
    ap.add_argument("--ambiguous", type=float, default=2.0,
                    help="%% with a second entry of the same name (default 2)")
    ap.add_argument("--renamed", type=float, default=1.0,
                    help="%% whose entry has another first name (default 1)")
    ap.add_argument("--no-uid", type=float, default=1.0,
                    help="%% whose entry has no uid (default 1)")
    ap.add_argument("--conflicts", type=float, default=0.2,
                    help="%% whose uid another student holds (default 0.2)")
    ap.add_argument("--accents", type=float, default=25.0,
                    help="%% of the accented Latin names (García, Zoë, Søren, ...) "
                         "that the district spells with their accents; the others "
                         "are spelled without, everywhere (default 25)")
    ap.add_argument("--blank", type=float, default=60.0,
                    help="%% of usernames blank (default 60)")
    ap.add_argument("--correct", type=float, default=30.0,
                    help="%% already the directory's uid (default 30); the rest differ")
    args = ap.parse_args()

    t0 = time.time()
    d = generate(args)
    os.makedirs(args.out, exist_ok=True)
    write_copy(os.path.join(args.out, "schools.tsv"), d["schools"])
    write_copy(os.path.join(args.out, "students.tsv"), d["students"])
    write_copy(os.path.join(args.out, "users.tsv"), d["users"])
    write_copy(os.path.join(args.out, "schoolstaff.tsv"), d["schoolstaff"])
    write_copy(os.path.join(args.out, "expected_students.tsv"), d["expected"])
    with open(os.path.join(args.out, "directory.ldif"), "w", encoding="utf-8") as f:
        f.write(BASE_LDIF % args.password)
        f.writelines(d["entries"])
        f.writelines(d["staff_entries"])

    sn = d["dir_student_sn"]
    top = sn.most_common(5)
    summary = {
        "seed": args.seed,
        "students": len(d["students"]),
        "users": len(d["users"]),
        "schoolstaff": len(d["schoolstaff"]),
        "schools": len(d["schools"]),
        "directory_entries": len(d["entries"]) + len(d["staff_entries"]) + 6,
        "student_entries": len(d["entries"]),
        "staff_entries": len(d["staff_entries"]),
        "student_kinds": dict(d["kinds"]),
        "expected_dry_run": dict(d["status_counts"]),
        "partial_candidates": d["partial_candidates"],
        "students_with_non_ascii_names": sum(
            1 for r in d["students"] if not (r[6].isascii() and r[7].isascii())),
        "top_surnames": [[name, n] for name, n in top],
        "generation_seconds": round(time.time() - t0, 2),
    }
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, ensure_ascii=False)
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    sys.exit(main())
